package org.mosaicbert.tokenizer;

import java.util.ArrayList;
import java.util.List;

/** Texts that break naive BERT tokenizers: each one probes a rule of the Rust library. */
final class HardCases {
  private HardCases() {}

  static List<String> texts() {
    List<String> t = new ArrayList<>(List.of(
        // accents and combining marks
        "Café naïve résumé façade jalapeño Ångström Øresund Æsir œuvre straße",
        "e\u0301 a\u0300\u0316 o\u0302\u0323 precomposed vs decomposed: \u00e9 e\u0301 \u1ec7 e\u0323\u0302",
        "Zalgo: H\u0335\u0321\u0334e\u0336\u0322l\u0337l\u0338o\u0489 w\u20dd\u20deorld",
        "\u0130stanbul \u0131s\u0131k KIRMIZI \u0049\u0307 \u1E9E \u00DF \u0149 \u01C5 \u01F0",
        "ΣΊΣΥΦΟΣ Οδυσσεύς ὀδύσσεια ΌΣΟΣ σς Σ",
        "Ελληνικά ῥ ᾳ ᾼ ΐ ΰ Ά",
        "Tiếng Việt có dấu: Nguyễn Thị Minh Khai, đường phố",
        // CJK, including the extension planes and the Rust library's Extension E start
        "中文字符测试，汉字。日本語のテキスト、カタカナ。한국어 텍스트입니다",
        "\uD840\uDC00\uD869\uDEDF \uD869\uDF00 \uD86D\uDF40 \uD86E\uDC1F\uD86E\uDC20 \uD86E\uDD20 \uD87E\uDC00 \uD87E\uDE1F",
        "㐀䶵 豈 﨩 ⺀ ⼀ 〡 ㇰ 가각 ㄱ ｶﾀｶﾅ",
        // emoji, ZWJ sequences, flags, skin tones, variation selectors
        "I ❤️ NY 👨‍👩‍👧‍👦 👍🏽 🏳️‍🌈 🇺🇸🇯🇵 ☺︎ ☺️ 1️⃣ #️⃣",
        "emoji😀inside😀words and 🤷‍♀️ shrug",
        // controls, zero-width and format characters
        "a\u0000b\u0001c\u0007d\u001Fe\u007Ff\u0085g\u009Fh",
        "zero\u200Bwidth\u200Cnon\u200Djoiner\u2060word\uFEFFjoiner\u00ADsoft\u180Emongolian",
        "bidi \u202Aembed\u202C \u202Eoverride\u202C \u2066isolate\u2069 \u061Carabic mark \u200E\u200F",
        "replacement \uFFFD char and nul \u0000 between",
        "private \uE000\uF8FF \uDB80\uDC00 use, unassigned \u0378\u0380 \uD900\uDC00 \uDB3F\uDFFD",
        "noncharacters \uFFFE\uFFFF \uD83F\uDFFE, tags \uDB40\uDC01\uDB40\uDC41\uDB40\uDC7F",
        // full-width and compatibility forms
        "Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ　１２３！？　（テスト）",
        "ﬁ ﬂ ﬀ ﬃ ½ ² ℃ ™ № Ⅻ ㎏ ｶ ① ⓐ 𝐀𝐁𝐂 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        // right-to-left scripts
        "العربية: مَرْحَبًا بِكُمْ، كيف حالك؟ ١٢٣",
        "עברית: שָׁלוֹם עֲלֵיכֶם, מה שלומך?",
        "فارسی: سلام دنیا ۱۲۳ · اردو: خوش آمدید",
        // other scripts
        "हिन्दी भाषा में पाठ। தமிழ் மொழி. ภาษาไทยไม่มีช่องว่าง ລາວ ᐃᓄᒃᑎᑐᑦ ሰላም Ꭰ",
        "Русский текст: Ёлка, ЁЖИК, й й. Українська: Ї ї Ґ ґ. Ѐ ѝ",
        "Georgian ქართული, Armenian Հայերեն, Mongolian ᠮᠣᠩᠭᠣᠯ",
        // punctuation of every kind, including those the Rust library's old tables do not know
        "quotes “double” ‘single’ «guillemets» „low“ ‹›, dashes – — ― ‐ ‒, ellipsis… bullet• ‽ ⁂ ※",
        "newer punctuation: \u2E4F \u2E52 \u2E53 \u2E5D \uD83A\uDD5E \uD83A\uDD5F \u2E3B \u2E44 \u2E49 \u2E4E",
        "egyptian format \uD80D\uDC30\uD80D\uDC38 \uD80D\uDC3F and \uD80C\uDC00",
        "ascii symbols $5 +1 <tag> a=b 2^3 `code` a|b ~home #hash @user 100% a&b *star* _under_ \\back /slash",
        "U.S.A. e.g. i.e. don't can't won't it's 'quoted' \"double\" (paren) [bracket] {brace}",
        // whitespace of every kind
        "tab\there new\nline cr\rlf\r\nvt\u000Bff\u000Cfs\u001Cgs\u001Drs\u001Eus\u001Fnel\u0085end",
        "nbsp\u00A0ogham\u1680en\u2000em\u2001thin\u2009hair\u200Aline\u2028para\u2029nnbsp\u202Fmmsp\u205Fideo\u3000end",
        "mongolian vowel separator\u180Eend zwsp\u200Bend   many   spaces   ",
        "   leading and trailing   ",
        "",
        " ",
        "\u3000",
        // special tokens in the raw text
        "[CLS] hello [SEP] world [MASK] and [PAD] or [UNK] inside",
        "glued[MASK]tokens[SEP][SEP]x [mask] [Mask] [ MASK ] [[MASK]] [MASK",
        "[unused0] [unused99] ##ing ##",
        // very long words and the 100 code point limit
        "a".repeat(100) + " " + "b".repeat(101) + " " + "é".repeat(100) + " " + "é".repeat(101),
        "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
        "😀".repeat(60) + " " + "中".repeat(200),
        "https://www.example.com/path/to/page?query=value&other=123#fragment mailto:someone@example.org",
        "numbers 3.14159 1,000,000 -42 1e-10 0xDEADBEEF 2019-04-25 12:57:54",
        "mixed中文English混合text日本語mixed"));
    StringBuilder allWhitespace = new StringBuilder("w");
    for (int cp : new int[] {0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
        0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0x180E, 0x200B,
        0xFEFF, 0x1C, 0x1D, 0x1E, 0x1F}) {
      allWhitespace.appendCodePoint(cp).append('w');
    }
    t.add(allWhitespace.toString());
    return t;
  }
}
