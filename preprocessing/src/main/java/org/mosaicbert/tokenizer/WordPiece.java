package org.mosaicbert.tokenizer;

/**
 * WordPiece as Hugging Face does it: greedy longest-match-first within one word, {@code ##} in front of every
 * piece after the first, and one {@code [UNK]} for the whole word when it is longer than
 * {@code maxInputCharsPerWord} code points or some part of it matches nothing.
 *
 * <p>Longest-match-first is a longest-prefix search, so the vocabulary is a trie over code points: one walk per
 * piece instead of one hash lookup per candidate substring. Transitions live in one open-addressing table keyed by
 * (node, code point). Immutable after construction, so one instance serves all threads.
 */
final class WordPiece {
  static final int DEFAULT_MAX_INPUT_CHARS_PER_WORD = 100;

  private final int unkId;
  private final int maxInputCharsPerWord;
  private final int continuationRoot;
  /** Token id ending at each trie node, or -1. */
  private final int[] nodeTokenId;
  /** Open addressing: key = node << 21 | code point (code points need 21 bits); empty slots hold -1. */
  private final long[] keys;
  private final int[] children;
  private final int mask;

  WordPiece(Vocabulary vocab, String unkToken, String continuingSubwordPrefix, int maxInputCharsPerWord) {
    this.unkId = vocab.id(unkToken);
    if (unkId < 0) {
      throw new IllegalArgumentException("the unknown token " + unkToken + " is not in the vocabulary; WordPiece needs "
          + "it for words it cannot split");
    }
    if (maxInputCharsPerWord < 1) {
      throw new IllegalArgumentException("max_input_chars_per_word must be at least 1, got " + maxInputCharsPerWord);
    }
    this.maxInputCharsPerWord = maxInputCharsPerWord;
    String[] tokens = vocab.tokens();
    long totalChars = continuingSubwordPrefix.length();
    for (String token : tokens) {
      totalChars += token.length();
    }
    int capacity = Integer.highestOneBit((int) Math.min(1 << 29, Math.max(16, totalChars * 2))) << 1;
    keys = new long[capacity];
    java.util.Arrays.fill(keys, -1L);
    children = new int[capacity];
    mask = capacity - 1;
    int[] tokenIdOf = new int[(int) totalChars + 2];
    java.util.Arrays.fill(tokenIdOf, -1);
    int[] nodeCount = {1};
    for (int id = 0; id < tokens.length; id++) {
      int node = insert(0, tokens[id], nodeCount);
      // A token listed twice keeps its last id, as in Vocabulary.
      tokenIdOf[node] = vocab.id(tokens[id]) == id ? id : tokenIdOf[node];
    }
    continuationRoot = insert(0, continuingSubwordPrefix, nodeCount);
    nodeTokenId = java.util.Arrays.copyOf(tokenIdOf, nodeCount[0]);
  }

  private int insert(int node, String text, int[] nodeCount) {
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      i += Character.charCount(cp);
      int child = child(node, cp);
      if (child < 0) {
        child = nodeCount[0]++;
        put(node, cp, child);
      }
      node = child;
    }
    return node;
  }

  private static int slot(long key, int mask) {
    long h = key * 0x9E3779B97F4A7C15L;
    return (int) (h ^ (h >>> 29)) & mask;
  }

  private void put(int node, int cp, int child) {
    long key = ((long) node << 21) | cp;
    int s = slot(key, mask);
    while (keys[s] != -1L) {
      s = (s + 1) & mask;
    }
    keys[s] = key;
    children[s] = child;
  }

  private int child(int node, int cp) {
    long key = ((long) node << 21) | cp;
    for (int s = slot(key, mask); ; s = (s + 1) & mask) {
      long k = keys[s];
      if (k == key) {
        return children[s];
      }
      if (k == -1L) {
        return -1;
      }
    }
  }

  /** Appends the ids of the word {@code cps[start, end)} to {@code out}. */
  void tokenize(int[] cps, int start, int end, IntList out) {
    if (end - start > maxInputCharsPerWord) {
      out.add(unkId);
      return;
    }
    int wordStart = out.size();
    int node0 = 0;
    while (start < end) {
      int node = node0;
      int bestEnd = -1;
      int bestId = -1;
      for (int i = start; i < end; i++) {
        node = child(node, cps[i]);
        if (node < 0) {
          break;
        }
        int id = nodeTokenId[node];
        if (id >= 0) {
          bestEnd = i + 1;
          bestId = id;
        }
      }
      if (bestId < 0) {
        out.truncate(wordStart);
        out.add(unkId);
        return;
      }
      out.add(bestId);
      start = bestEnd;
      node0 = continuationRoot;
    }
  }
}
