package org.mosaicbert.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mosaicbert.testing.SharedTestData;
import org.mosaicbert.testing.TestCorpora;
import org.mosaicbert.testing.TestCorpora.TextPair;

/**
 * Our tokenizer against Hugging Face {@code tokenizers} (Rust) on every C4 document and GLUE example in
 * {@code ../shared/data} and on the hard cases: identical ids, 100%, not "almost".
 */
class TokenizerParityWithRustTest {
  private static RustOracle oracle;
  private static BertWordPieceTokenizer fromJson;
  private static BertWordPieceTokenizer fromVocabTxt;

  @BeforeAll
  static void load() {
    oracle = new RustOracle(SharedTestData.tokenizerJson());
    fromJson = TokenizerLoader.fromTokenizerJson(SharedTestData.tokenizerJson());
    fromVocabTxt = TokenizerLoader.load(SharedTestData.vocabTxt(), false);
  }

  @AfterAll
  static void close() {
    if (oracle != null) {
      oracle.close();
    }
  }

  @Test
  void everyC4DocumentGivesTheRustIds() {
    List<String> docs = TestCorpora.c4Documents();
    assertEquals(1030, docs.size(), "C4 documents in shared/data/c4");
    long tokens = 0;
    for (int i = 0; i < docs.size(); i++) {
      int[] expected = oracle.encode(docs.get(i));
      assertSameIds("C4 document " + i, docs.get(i), expected, fromJson.encode(docs.get(i)));
      assertSameIds("C4 document " + i + " (vocab.txt)", docs.get(i), expected, fromVocabTxt.encode(docs.get(i)));
      tokens += expected.length;
    }
    System.err.println("C4: " + docs.size() + " documents, " + tokens + " tokens, all identical to the Rust tokenizer");
  }

  @Test
  void everyGlueSentenceAndPairGivesTheRustIds() {
    List<TextPair> examples = TestCorpora.glueExamples();
    int pairs = 0;
    for (TextPair ex : examples) {
      assertSameIds(ex.source() + " a", ex.a(), oracle.encode(ex.a()), fromJson.encode(ex.a()));
      if (ex.b() != null) {
        assertSameIds(ex.source() + " b", ex.b(), oracle.encode(ex.b()), fromJson.encode(ex.b()));
        Encoding expected = oracle.encodePair(ex.a(), ex.b());
        Encoding actual = fromJson.encodePair(ex.a(), ex.b());
        assertSameIds(ex.source() + " pair", ex.a() + " ||| " + ex.b(), expected.ids(), actual.ids());
        assertArrayEquals(expected.typeIds(), actual.typeIds(), ex.source() + " pair type ids");
        pairs++;
      }
    }
    System.err.println("GLUE: " + examples.size() + " examples (" + pairs + " pairs), all identical to the Rust tokenizer");
  }

  @Test
  void everyHardCaseGivesTheRustIds() {
    for (String text : HardCases.texts()) {
      assertSameIds("hard case", text, oracle.encode(text), fromJson.encode(text));
      assertSameIds("hard case (vocab.txt)", text, oracle.encode(text), fromVocabTxt.encode(text));
    }
  }

  @Test
  void truncationMatchesRustForSinglesAndPairs() {
    List<TextPair> examples = TestCorpora.glueExamples();
    List<String> docs = TestCorpora.c4Documents().subList(0, 200);
    for (int maxLength : new int[] {3, 8, 17, 32, 128}) {
      try (RustOracle truncating = new RustOracle(SharedTestData.tokenizerJson(), maxLength)) {
        for (String doc : docs) {
          assertSameIds("C4 truncated to " + maxLength, doc, truncating.encode(doc), fromJson.encode(doc, maxLength));
        }
        for (int i = 0; i < examples.size(); i += 7) {
          TextPair ex = examples.get(i);
          if (ex.b() == null) {
            continue;
          }
          Encoding expected = truncating.encodePair(ex.a(), ex.b());
          Encoding actual = fromJson.encodePair(ex.a(), ex.b(), maxLength);
          assertSameIds(ex.source() + " pair truncated to " + maxLength, ex.a() + " ||| " + ex.b(), expected.ids(),
              actual.ids());
          assertArrayEquals(expected.typeIds(), actual.typeIds(), ex.source() + " type ids at " + maxLength);
        }
        // Pairs of two long texts: who keeps the odd token is decided by the full lengths.
        for (int i = 0; i + 1 < 40; i++) {
          Encoding expected = truncating.encodePair(docs.get(i), docs.get(i + 1));
          Encoding actual = fromJson.encodePair(docs.get(i), docs.get(i + 1), maxLength);
          assertSameIds("C4 pair " + i + " truncated to " + maxLength, "", expected.ids(), actual.ids());
        }
      }
    }
  }

  static void assertSameIds(String what, String text, int[] expected, int[] actual) {
    if (Arrays.equals(expected, actual)) {
      return;
    }
    int at = Arrays.mismatch(expected, actual);
    fail(what + ": ids differ from the Rust tokenizer at position " + at + " (expected " + expected.length
        + " ids, got " + actual.length + ")\n  expected: " + window(expected, at) + "\n  actual:   "
        + window(actual, at) + "\n  text: " + abbreviate(text));
  }

  private static String window(int[] ids, int at) {
    int from = Math.max(0, at - 5);
    int to = Math.min(ids.length, at + 10);
    return (from > 0 ? "... " : "") + Arrays.toString(Arrays.copyOfRange(ids, from, to));
  }

  private static String abbreviate(String text) {
    return text.length() <= 300 ? text : text.substring(0, 300) + "...";
  }
}
