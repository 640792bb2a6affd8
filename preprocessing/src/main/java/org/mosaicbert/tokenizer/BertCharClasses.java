package org.mosaicbert.tokenizer;

/**
 * Character classes on code points, exactly as Hugging Face {@code tokenizers} (the Rust library behind
 * {@code BertTokenizerFast}) sees them.
 *
 * <p>The Rust library mixes two sources of Unicode data: the standard library ({@code char::is_whitespace},
 * {@code char::to_lowercase}: a recent Unicode) and the {@code unicode_categories} crate ({@code is_other},
 * {@code is_punctuation}, {@code is_mark_nonspacing}: old tables, Unicode 8 era). Java 17 knows Unicode 13. Where
 * these disagree we follow the Rust library, not Java's tables; every exception below was found by comparing all
 * code points against the Rust library ({@code UnicodeTablesAgainstRustTest}).
 */
final class BertCharClasses {
  private BertCharClasses() {}

  private static final byte WHITESPACE = 1;
  private static final byte CONTROL = 2;
  private static final byte PUNCTUATION = 4;

  /** Classes of the ASCII range, the hot path of English text. */
  private static final byte[] ASCII = new byte[128];

  static {
    for (int cp = 0; cp < 128; cp++) {
      byte flags = 0;
      if (cp == '\t' || cp == '\n' || cp == 0x0B || cp == 0x0C || cp == '\r' || cp == ' ') {
        flags |= WHITESPACE;
      }
      if (Character.getType(cp) == Character.CONTROL && cp != '\t' && cp != '\n' && cp != '\r') {
        flags |= CONTROL;
      }
      if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) {
        flags |= PUNCTUATION;
      }
      ASCII[cp] = flags;
    }
  }

  /**
   * The Unicode White_Space property (Rust's {@code char::is_whitespace}). Not {@link Character#isWhitespace}, which
   * leaves out the no-break spaces and counts U+001C..U+001F in.
   */
  static boolean isWhitespace(int cp) {
    if (cp < 128) {
      return (ASCII[cp] & WHITESPACE) != 0;
    }
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A)
        || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
  }

  /**
   * What {@code clean_text} removes besides NUL and U+FFFD: the categories Cc, Cf and Co ({@code is_other} of
   * {@code unicode_categories}; unassigned code points, Cn, are kept), except tab, newline and carriage return,
   * which are whitespace.
   */
  static boolean isControl(int cp) {
    if (cp < 128) {
      return (ASCII[cp] & CONTROL) != 0;
    }
    int type = Character.getType(cp);
    return type == Character.CONTROL || type == Character.PRIVATE_USE
        || (type == Character.FORMAT && !RustUnicodeExceptions.NOT_OTHER.contains(cp));
  }

  /**
   * The CJK Unified Ideographs blocks that BERT isolates. Hangul, Hiragana and Katakana are written with spaces
   * between words and are not among them. The ranges are the Rust library's, including its start of Extension E
   * at U+2B920 (not U+2B820) and no Extension F or G.
   */
  static boolean isChineseChar(int cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF)
        || (cp >= 0x3400 && cp <= 0x4DBF)
        || (cp >= 0x20000 && cp <= 0x2A6DF)
        || (cp >= 0x2A700 && cp <= 0x2B73F)
        || (cp >= 0x2B740 && cp <= 0x2B81F)
        || (cp >= 0x2B920 && cp <= 0x2CEAF)
        || (cp >= 0xF900 && cp <= 0xFAFF)
        || (cp >= 0x2F800 && cp <= 0x2FA1F);
  }

  /** BERT punctuation: any ASCII punctuation (so {@code $ + < = > ^ ` | ~} too) or a Unicode P* character. */
  static boolean isPunctuation(int cp) {
    if (cp < 128) {
      return (ASCII[cp] & PUNCTUATION) != 0;
    }
    switch (Character.getType(cp)) {
      case Character.CONNECTOR_PUNCTUATION:
      case Character.DASH_PUNCTUATION:
      case Character.START_PUNCTUATION:
      case Character.END_PUNCTUATION:
      case Character.INITIAL_QUOTE_PUNCTUATION:
      case Character.FINAL_QUOTE_PUNCTUATION:
      case Character.OTHER_PUNCTUATION:
        return !RustUnicodeExceptions.NOT_PUNCTUATION.contains(cp);
      case Character.OTHER_SYMBOL:
      case Character.NON_SPACING_MARK:
        return RustUnicodeExceptions.PUNCTUATION.contains(cp);
      default:
        return false;
    }
  }

  /** Category Mn, what {@code strip_accents} drops after NFD. */
  static boolean isNonspacingMark(int cp) {
    if (cp < 0x300) {
      return false;
    }
    return Character.getType(cp) == Character.NON_SPACING_MARK && !RustUnicodeExceptions.NOT_NONSPACING_MARK.contains(cp);
  }

  /**
   * Appends the lowercase of one code point as Rust's {@code char::to_lowercase} gives it: one code point at a
   * time, unconditional mappings only (no final-sigma rule), so U+0130 becomes {@code i} + U+0307.
   */
  static void appendLowercase(int cp, IntList out) {
    if (cp < 128) {
      out.add(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    } else if (cp == 0x130) {
      out.add('i');
      out.add(0x307);
    } else {
      int mapped = RustUnicodeExceptions.lowercase(cp);
      out.add(mapped >= 0 ? mapped : Character.toLowerCase(cp));
    }
  }
}
