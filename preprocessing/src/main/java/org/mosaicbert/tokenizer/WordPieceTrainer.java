package org.mosaicbert.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;

/**
 * Trains a WordPiece vocabulary the way Hugging Face's {@code WordPieceTrainer} does: it is a BPE trainer with the
 * {@code ##} continuation prefix, not Google's likelihood-based WordPiece.
 *
 * <ol>
 *   <li>The special tokens take the first ids.
 *   <li>The alphabet: every character of the words, weighted by word count; the {@code limitAlphabet} most frequent
 *       are kept, added in code point order. Characters outside it are dropped from the words.
 *   <li>Each word becomes its first character followed by {@code ##}-prefixed characters (added as tokens).
 *   <li>Repeatedly, the most frequent adjacent pair of tokens (ties: the pair of smaller ids) is merged into a new
 *       token ({@code a} + {@code ##b} gives {@code ab}), until the vocabulary is full or the best pair occurs fewer
 *       than {@code minFrequency} times.
 * </ol>
 *
 * Deterministic: words are visited in sorted order (the Rust trainer's hash maps make its id order vary from run to
 * run). The defaults are those of {@code BertWordPieceTokenizer.train}: minimum frequency 2, alphabet of 1,000.
 */
public final class WordPieceTrainer {
  public static final int DEFAULT_MIN_FREQUENCY = 2;
  public static final int DEFAULT_LIMIT_ALPHABET = 1000;
  private static final String PREFIX = "##";

  private final int vocabSize;
  private final int minFrequency;
  private final int limitAlphabet;
  private final List<String> specialTokens;

  public WordPieceTrainer(int vocabSize, int minFrequency, int limitAlphabet, List<String> specialTokens) {
    if (vocabSize <= specialTokens.size()) {
      throw new IllegalArgumentException("vocabulary size " + vocabSize + " leaves no room beyond the "
          + specialTokens.size() + " special tokens");
    }
    this.vocabSize = vocabSize;
    this.minFrequency = minFrequency;
    this.limitAlphabet = limitAlphabet;
    this.specialTokens = List.copyOf(specialTokens);
  }

  /** @param wordCounts normalized, pre-tokenized words and how often each occurs */
  public List<String> train(Map<String, Long> wordCounts) {
    List<String> idToToken = new ArrayList<>(vocabSize);
    Map<String, Integer> tokenToId = new HashMap<>(vocabSize * 2);
    for (String special : specialTokens) {
      addToken(special, idToToken, tokenToId);
    }
    TreeMap<String, Long> words = new TreeMap<>(wordCounts);
    Set<Integer> alphabet = alphabet(words);
    alphabet.stream().sorted().forEach(cp -> addToken(new String(Character.toChars(cp)), idToToken, tokenToId));

    int[][] symbols = new int[words.size()][];
    long[] counts = new long[words.size()];
    int w = 0;
    for (Map.Entry<String, Long> entry : words.entrySet()) {
      symbols[w] = initialSymbols(entry.getKey(), alphabet, idToToken, tokenToId);
      counts[w++] = entry.getValue();
    }
    mergeUntilFull(symbols, counts, idToToken, tokenToId);
    return idToToken;
  }

  private Set<Integer> alphabet(Map<String, Long> words) {
    Map<Integer, Long> frequency = new HashMap<>();
    words.forEach((word, count) -> word.codePoints().forEach(cp -> frequency.merge(cp, count, Long::sum)));
    List<Map.Entry<Integer, Long>> byFrequency = new ArrayList<>(frequency.entrySet());
    // Most frequent first; among equals, the smaller code point (the Rust trainer's order is arbitrary there).
    byFrequency.sort((a, b) -> a.getValue().equals(b.getValue()) ? Integer.compare(a.getKey(), b.getKey())
        : Long.compare(b.getValue(), a.getValue()));
    Set<Integer> kept = new HashSet<>();
    for (int i = 0; i < Math.min(limitAlphabet, byFrequency.size()); i++) {
      kept.add(byFrequency.get(i).getKey());
    }
    return kept;
  }

  private static int[] initialSymbols(String word, Set<Integer> alphabet, List<String> idToToken,
      Map<String, Integer> tokenToId) {
    int[] out = new int[word.codePointCount(0, word.length())];
    int n = 0;
    for (int i = 0; i < word.length(); ) {
      int cp = word.codePointAt(i);
      String s = new String(Character.toChars(cp));
      if (alphabet.contains(cp)) {
        out[n++] = addToken(i == 0 ? s : PREFIX + s, idToToken, tokenToId);
      }
      i += Character.charCount(cp);
    }
    return Arrays.copyOf(out, n);
  }

  private static int addToken(String token, List<String> idToToken, Map<String, Integer> tokenToId) {
    Integer id = tokenToId.get(token);
    if (id != null) {
      return id;
    }
    idToToken.add(token);
    tokenToId.put(token, idToToken.size() - 1);
    return idToToken.size() - 1;
  }

  private static long pair(int a, int b) {
    return ((long) a << 32) | (b & 0xFFFFFFFFL);
  }

  /** A candidate merge: a pair, its count when queued, and the words that hold it. */
  private record Merge(long pair, long count, Set<Integer> words) {}

  private void mergeUntilFull(int[][] symbols, long[] counts, List<String> idToToken, Map<String, Integer> tokenToId) {
    Map<Long, Long> pairCounts = new HashMap<>();
    Map<Long, Set<Integer>> whereToUpdate = new HashMap<>();
    for (int w = 0; w < symbols.length; w++) {
      int[] s = symbols[w];
      for (int i = 0; i + 1 < s.length; i++) {
        long p = pair(s[i], s[i + 1]);
        pairCounts.merge(p, counts[w], Long::sum);
        whereToUpdate.computeIfAbsent(p, k -> new HashSet<>()).add(w);
      }
    }
    // Highest count first; ties: the smaller pair (first id, then second), as the Rust trainer orders them.
    PriorityQueue<Merge> queue = new PriorityQueue<>((a, b) -> a.count() != b.count()
        ? Long.compare(b.count(), a.count()) : compareUnsignedPairs(a.pair(), b.pair()));
    whereToUpdate.forEach((p, ws) -> queue.add(new Merge(p, pairCounts.get(p), ws)));
    whereToUpdate.clear();

    while (idToToken.size() < vocabSize && !queue.isEmpty()) {
      Merge top = queue.poll();
      long current = pairCounts.getOrDefault(top.pair(), 0L);
      if (top.count() != current) {
        queue.add(new Merge(top.pair(), current, top.words()));
        continue;
      }
      if (top.count() < 1 || top.count() < minFrequency) {
        break;
      }
      int a = (int) (top.pair() >>> 32);
      int b = (int) top.pair();
      String partB = idToToken.get(b);
      String merged = idToToken.get(a) + (partB.startsWith(PREFIX) ? partB.substring(PREFIX.length()) : partB);
      int newId = addToken(merged, idToToken, tokenToId);
      for (int w : top.words().stream().sorted().toList()) {
        symbols[w] = mergeInWord(symbols[w], a, b, newId, counts[w], pairCounts, whereToUpdate, w);
      }
      for (Map.Entry<Long, Set<Integer>> entry : whereToUpdate.entrySet()) {
        long count = pairCounts.get(entry.getKey());
        if (count > 0) {
          queue.add(new Merge(entry.getKey(), count, entry.getValue()));
        }
      }
      whereToUpdate.clear();
    }
  }

  private static int compareUnsignedPairs(long p, long q) {
    int c = Integer.compare((int) (p >>> 32), (int) (q >>> 32));
    return c != 0 ? c : Integer.compare((int) p, (int) q);
  }

  /** Merges every (a, b) of one word left to right and records how the neighbouring pairs' counts change. */
  private static int[] mergeInWord(int[] s, int a, int b, int newId, long count, Map<Long, Long> pairCounts,
      Map<Long, Set<Integer>> whereToUpdate, int word) {
    int[] out = new int[s.length];
    int n = 0;
    for (int i = 0; i < s.length; i++) {
      if (s[i] == a && i + 1 < s.length && s[i + 1] == b) {
        if (n > 0) {
          change(pair(out[n - 1], a), -count, pairCounts, null, word);
          change(pair(out[n - 1], newId), count, pairCounts, whereToUpdate, word);
        }
        if (i + 2 < s.length) {
          change(pair(b, s[i + 2]), -count, pairCounts, null, word);
          change(pair(newId, s[i + 2]), count, pairCounts, whereToUpdate, word);
        }
        out[n++] = newId;
        i++;
      } else {
        out[n++] = s[i];
      }
    }
    return Arrays.copyOf(out, n);
  }

  private static void change(long p, long delta, Map<Long, Long> pairCounts, Map<Long, Set<Integer>> whereToUpdate,
      int word) {
    pairCounts.merge(p, delta, Long::sum);
    if (whereToUpdate != null) {
      whereToUpdate.computeIfAbsent(p, k -> new HashSet<>()).add(word);
    }
  }
}
