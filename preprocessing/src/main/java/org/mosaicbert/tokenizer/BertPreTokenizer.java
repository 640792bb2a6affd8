package org.mosaicbert.tokenizer;

/**
 * The BERT pre-tokenizer, two splits as in Hugging Face's {@code BertPreTokenizer}: whitespace (the Unicode
 * White_Space set) separates words and is dropped; punctuation is cut out as a word of its own.
 */
final class BertPreTokenizer {
  private BertPreTokenizer() {}

  /** Receives each word as a range of the normalized code points. */
  interface WordSink {
    /** @return false to stop splitting (enough tokens) */
    boolean word(int[] cps, int start, int end);
  }

  /** @return false when the sink asked to stop */
  static boolean split(int[] cps, int n, WordSink sink) {
    int wordStart = 0;
    for (int i = 0; i < n; i++) {
      int cp = cps[i];
      if (BertCharClasses.isWhitespace(cp)) {
        if (i > wordStart && !sink.word(cps, wordStart, i)) {
          return false;
        }
        wordStart = i + 1;
      } else if (BertCharClasses.isPunctuation(cp)) {
        if (i > wordStart && !sink.word(cps, wordStart, i)) {
          return false;
        }
        if (!sink.word(cps, i, i + 1)) {
          return false;
        }
        wordStart = i + 1;
      }
    }
    return n <= wordStart || sink.word(cps, wordStart, n);
  }
}
