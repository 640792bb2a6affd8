package org.mosaicbert.tokenizer;

import java.text.Normalizer;

/**
 * The BERT normalizer: four switches applied in a fixed order, as Hugging Face's {@code BertNormalizer}.
 *
 * <ol>
 *   <li>{@code cleanText}: drop NUL, U+FFFD and control/format/private-use characters; any whitespace becomes a space.
 *   <li>{@code handleChineseChars}: put spaces around CJK ideographs, so each becomes a word.
 *   <li>{@code stripAccents}: NFD, then drop nonspacing marks (Mn).
 *   <li>{@code lowercase}: one code point at a time.
 * </ol>
 *
 * Works on code points in {@link IntList}s so that no intermediate strings are made for ASCII text.
 */
public record BertNormalizer(boolean cleanText, boolean handleChineseChars, boolean stripAccents, boolean lowercase)
    implements java.io.Serializable {

  /** The uncased BERT normalizer (bert-base-uncased): all four on. */
  public static BertNormalizer uncased() {
    return new BertNormalizer(true, true, true, true);
  }

  /** The cased BERT normalizer: cleaning and CJK splitting only. */
  public static BertNormalizer cased() {
    return new BertNormalizer(true, true, false, false);
  }

  /** Normalizes {@code text[from, to)}; the result replaces the content of {@code out}. */
  void normalize(CharSequence text, int from, int to, IntList out, IntList scratch) {
    scratch.clear();
    cleanAndSplitChinese(text, from, to, scratch);
    out.clear();
    stripAccentsAndLowercase(scratch, out);
  }

  /** Normalizes a whole string (for tests and tools; the tokenizer uses the code-point form). */
  public String normalize(String text) {
    IntList out = new IntList(text.length());
    normalize(text, 0, text.length(), out, new IntList(text.length()));
    return new String(out.array(), 0, out.size());
  }

  private void cleanAndSplitChinese(CharSequence text, int from, int to, IntList out) {
    for (int i = from; i < to; ) {
      int cp = Character.codePointAt(text, i);
      i += Character.charCount(cp);
      if (cleanText) {
        if (cp == 0 || cp == 0xFFFD || BertCharClasses.isControl(cp)) {
          continue;
        }
        if (BertCharClasses.isWhitespace(cp)) {
          cp = ' ';
        }
      }
      if (handleChineseChars && cp >= 0x3400 && BertCharClasses.isChineseChar(cp)) {
        out.add(' ');
        out.add(cp);
        out.add(' ');
      } else {
        out.add(cp);
      }
    }
  }

  private void stripAccentsAndLowercase(IntList in, IntList out) {
    int[] cps = in.array();
    int n = in.size();
    for (int i = 0; i < n; ) {
      int cp = cps[i];
      if (cp < 128 || !stripAccents || RustUnicodeExceptions.NOT_DECOMPOSED.contains(cp)) {
        emit(cp, out);
        i++;
        continue;
      }
      // NFD over the run of non-ASCII code points: ASCII characters are starters without decompositions, so
      // canonical reordering never crosses them and the run can be decomposed on its own. What the Rust library
      // leaves whole is such a starter to it too.
      int end = i + 1;
      while (end < n && cps[end] >= 128 && !RustUnicodeExceptions.NOT_DECOMPOSED.contains(cps[end])) {
        end++;
      }
      String decomposed = Normalizer.normalize(new String(cps, i, end - i), Normalizer.Form.NFD);
      for (int j = 0; j < decomposed.length(); ) {
        int d = decomposed.codePointAt(j);
        j += Character.charCount(d);
        if (!BertCharClasses.isNonspacingMark(d)) {
          emit(d, out);
        }
      }
      i = end;
    }
  }

  private void emit(int cp, IntList out) {
    if (lowercase) {
      BertCharClasses.appendLowercase(cp, out);
    } else {
      out.add(cp);
    }
  }
}
