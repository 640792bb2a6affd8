package org.mosaicbert.tokenizer;

import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The BERT WordPiece tokenizer, id for id as Hugging Face {@code tokenizers} (the Rust library behind
 * {@code BertTokenizerFast}): special tokens cut out of the raw text, then {@link BertNormalizer},
 * {@link BertPreTokenizer}, {@link WordPiece} and {@link BertPostProcessor}.
 *
 * <p>Immutable and thread-safe. Long texts are worked through in chunks cut at whitespace, so a truncated encoding
 * of a huge document stops as soon as it has enough tokens.
 */
public final class BertWordPieceTokenizer {
  /** Characters per chunk; a chunk ends at the next ASCII whitespace after this many. */
  private static final int CHUNK_CHARS = 8192;

  private final TokenizerSpec spec;
  private final Vocabulary vocabulary;
  private final BertNormalizer normalizer;
  private final WordPiece wordPiece;
  private final BertPostProcessor postProcessor;
  /** Special tokens matched in the raw text before normalization, longest first. */
  private final String[] specialTokens;
  private final int[] specialTokenIds;
  private final String specialFirstChars;

  BertWordPieceTokenizer(TokenizerSpec spec, Vocabulary vocabulary, WordPiece wordPiece,
      BertPostProcessor postProcessor) {
    List<String> specialTokens = spec.specialTokens();
    this.spec = spec;
    this.vocabulary = vocabulary;
    this.normalizer = spec.normalizer();
    this.wordPiece = wordPiece;
    this.postProcessor = postProcessor;
    this.specialTokens = specialTokens.stream()
        .sorted(Comparator.comparingInt(String::length).reversed())
        .toArray(String[]::new);
    this.specialTokenIds = Arrays.stream(this.specialTokens).mapToInt(vocabulary::id).toArray();
    StringBuilder firsts = new StringBuilder();
    for (String token : this.specialTokens) {
      if (token.isEmpty() || token.codePoints().anyMatch(BertCharClasses::isWhitespace)) {
        throw new IllegalArgumentException("special token '" + token + "' is empty or contains whitespace; only "
            + "special tokens without whitespace (such as [CLS], [MASK]) are supported");
      }
      if (firsts.indexOf(token.substring(0, 1)) < 0) {
        firsts.append(token.charAt(0));
      }
    }
    this.specialFirstChars = firsts.toString();
  }

  /** What this tokenizer is made of, to ship to Spark executors. */
  public TokenizerSpec spec() {
    return spec;
  }

  public Vocabulary vocabulary() {
    return vocabulary;
  }

  public BertNormalizer normalizer() {
    return normalizer;
  }

  public int clsId() {
    return postProcessor.clsId();
  }

  public int sepId() {
    return postProcessor.sepId();
  }

  /**
   * The words of a text after normalization and pre-tokenization, special tokens included as text: what
   * vocabulary training counts.
   */
  public static void forEachWord(BertNormalizer normalizer, String text, java.util.function.Consumer<String> words) {
    IntList normalized = new IntList(text.length() + 16);
    normalizer.normalize(text, 0, text.length(), normalized, new IntList(text.length() + 16));
    BertPreTokenizer.split(normalized.array(), normalized.size(), (cps, start, end) -> {
      words.accept(new String(cps, start, end - start));
      return true;
    });
  }

  /** Token ids of a text without special tokens and without truncation. */
  public int[] tokenize(String text) {
    return tokenize(text, Integer.MAX_VALUE);
  }

  /** The first {@code maxTokens} token ids of a text, without special tokens. */
  public int[] tokenize(String text, int maxTokens) {
    IntList out = new IntList(Math.min(text.length() / 4 + 16, maxTokens));
    tokenizeInto(text, maxTokens, out);
    return out.toArray();
  }

  /** {@code [CLS] text [SEP]}, not truncated. */
  public int[] encode(String text) {
    return encode(text, Integer.MAX_VALUE);
  }

  /** {@code [CLS] text [SEP]}, truncated to {@code maxLength} ids in all (the special tokens count). */
  public int[] encode(String text, int maxLength) {
    int budget = maxLength == Integer.MAX_VALUE ? Integer.MAX_VALUE : BertPostProcessor.singleBudget(maxLength);
    IntList tokens = new IntList(Math.min(text.length() / 4 + 16, budget));
    tokenizeInto(text, budget, tokens);
    return postProcessor.single(tokens, budget);
  }

  /**
   * One example as a model reads it: {@code [CLS] a [SEP]} with segment ids 0 when {@code b} is null, else
   * {@code [CLS] a [SEP] b [SEP]} truncated longest-first; {@code maxLength} ids in all.
   */
  public Encoding encode(String a, String b, int maxLength) {
    if (b != null) {
      return encodePair(a, b, maxLength);
    }
    int[] ids = encode(a, maxLength);
    return new Encoding(ids, new int[ids.length]);
  }

  /** {@code [CLS] a [SEP] b [SEP]} with segment ids, not truncated. */
  public Encoding encodePair(String a, String b) {
    return encodePair(a, b, Integer.MAX_VALUE);
  }

  /** {@code [CLS] a [SEP] b [SEP]} with segment ids, truncated longest-first to {@code maxLength} ids in all. */
  public Encoding encodePair(String a, String b, int maxLength) {
    int budget = maxLength == Integer.MAX_VALUE ? Integer.MAX_VALUE : BertPostProcessor.pairBudget(maxLength);
    // No text keeps more than the budget, so budget + 1 tokens tell "fits" from "too long"; only which of two
    // too-long texts is longer decides who keeps an odd token, and that needs their full lengths.
    int cap = budget == Integer.MAX_VALUE ? budget : budget + 1;
    IntList ta = new IntList(16);
    IntList tb = new IntList(16);
    tokenizeInto(a, cap, ta);
    tokenizeInto(b, cap, tb);
    if (ta.size() == cap && tb.size() == cap && budget % 2 == 1) {
      ta.clear();
      tb.clear();
      tokenizeInto(a, Integer.MAX_VALUE, ta);
      tokenizeInto(b, Integer.MAX_VALUE, tb);
    }
    int[] keep = BertPostProcessor.pairKeep(ta.size(), tb.size(), budget);
    return postProcessor.pair(ta, keep[0], tb, keep[1]);
  }

  /** Appends up to {@code maxTokens} token ids of {@code text} to {@code out}. */
  private void tokenizeInto(String text, int maxTokens, IntList out) {
    int limit = out.size() + maxTokens < 0 ? Integer.MAX_VALUE : out.size() + maxTokens;
    IntList normalized = new IntList(Math.min(text.length(), CHUNK_CHARS) + 16);
    IntList scratch = new IntList(Math.min(text.length(), CHUNK_CHARS) + 16);
    BertPreTokenizer.WordSink sink = (cps, start, end) -> {
      wordPiece.tokenize(cps, start, end, out);
      return out.size() < limit;
    };
    int length = text.length();
    for (int from = 0; from < length && out.size() < limit; ) {
      int to = chunkEnd(text, from);
      tokenizeChunk(text, from, to, out, limit, normalized, scratch, sink);
      from = to;
    }
    if (out.size() > limit) {
      out.truncate(limit);
    }
  }

  private static int chunkEnd(String text, int from) {
    int length = text.length();
    if (length - from <= CHUNK_CHARS) {
      return length;
    }
    for (int i = from + CHUNK_CHARS; i < length; i++) {
      char c = text.charAt(i);
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
        return i + 1;
      }
    }
    return length;
  }

  /** Cuts the special tokens out of {@code text[from, to)} and tokenizes the pieces between them. */
  private void tokenizeChunk(String text, int from, int to, IntList out, int limit, IntList normalized,
      IntList scratch, BertPreTokenizer.WordSink sink) {
    int pieceStart = from;
    for (int i = from; i < to && out.size() < limit; i++) {
      if (specialFirstChars.indexOf(text.charAt(i)) < 0) {
        continue;
      }
      for (int t = 0; t < specialTokens.length; t++) {
        String token = specialTokens[t];
        if (i + token.length() <= to && text.startsWith(token, i)) {
          if (!tokenizePiece(text, pieceStart, i, normalized, scratch, sink)) {
            return;
          }
          out.add(specialTokenIds[t]);
          i += token.length() - 1;
          pieceStart = i + 1;
          break;
        }
      }
    }
    if (out.size() < limit) {
      tokenizePiece(text, pieceStart, to, normalized, scratch, sink);
    }
  }

  private boolean tokenizePiece(String text, int from, int to, IntList normalized, IntList scratch,
      BertPreTokenizer.WordSink sink) {
    if (from >= to) {
      return true;
    }
    normalizer.normalize(text, from, to, normalized, scratch);
    return BertPreTokenizer.split(normalized.array(), normalized.size(), sink);
  }
}
