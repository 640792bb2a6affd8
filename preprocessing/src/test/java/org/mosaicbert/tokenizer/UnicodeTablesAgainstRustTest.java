package org.mosaicbert.tokenizer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.testing.SharedTestData;

/**
 * Every code point through our tokenizer and the Rust one, in the middle of a word ({@code a?a}), uncased and
 * cased. With the bert-base-uncased vocabulary this shows each code point's class (dropped, whitespace, isolated,
 * part of a word); with a vocabulary that holds every code point of planes 0 and 1 (and its {@code ##} form) it
 * also shows exactly what lowercasing and accent stripping turn it into. Differences name the code points, which
 * belong in {@link RustUnicodeExceptions}.
 */
class UnicodeTablesAgainstRustTest {
  private static final int BATCH = 8192;

  @TempDir Path tmp;

  @Test
  void everyCodePointIsClassifiedAsTheRustLibraryDoes() throws IOException {
    Path json = SharedTestData.tokenizerJson();
    List<String> diffs = new ArrayList<>();
    for (boolean cased : new boolean[] {false, true}) {
      Path file = withNormalizer(readJson(json), cased, tmp.resolve("bert-" + cased + ".json"));
      compareAllCodePoints(file, 0x10FFFF, "bert vocab " + (cased ? "cased" : "uncased"), diffs);
    }
    assertTrue(diffs.isEmpty(), diffs.size() + " code points differ from the Rust library:\n"
        + String.join("\n", diffs));
  }

  @Test
  void everyCodePointOfPlanesZeroAndOneNormalizesAsTheRustLibraryDoes() throws IOException {
    ObjectNode root = readJson(SharedTestData.tokenizerJson());
    ObjectNode vocab = new ObjectMapper().createObjectNode();
    for (String special : TokenizerLoader.BERT_SPECIAL_TOKENS) {
      vocab.put(special, vocab.size());
    }
    for (int cp = 0; cp <= 0x1FFFF; cp++) {
      if (cp >= 0xD800 && cp <= 0xDFFF) {
        continue;
      }
      String s = new String(Character.toChars(cp));
      if (!vocab.has(s)) {
        vocab.put(s, vocab.size());
      }
      vocab.put("##" + s, vocab.size());
    }
    ((ObjectNode) root.get("model")).set("vocab", vocab);
    root.putArray("added_tokens");
    ObjectNode node = root;
    for (String special : TokenizerLoader.BERT_SPECIAL_TOKENS) {
      node.withArray("added_tokens").addObject().put("id", vocab.get(special).asInt()).put("content", special)
          .put("single_word", false).put("lstrip", false).put("rstrip", false).put("normalized", false)
          .put("special", true);
    }
    List<String> diffs = new ArrayList<>();
    for (boolean cased : new boolean[] {false, true}) {
      Path file = withNormalizer(root.deepCopy(), cased, tmp.resolve("all-" + cased + ".json"));
      compareAllCodePoints(file, 0x1FFFF, "every-code-point vocab " + (cased ? "cased" : "uncased"), diffs);
    }
    assertTrue(diffs.isEmpty(), diffs.size() + " code points differ from the Rust library:\n"
        + String.join("\n", diffs));
  }

  private static void compareAllCodePoints(Path tokenizerJson, int lastCodePoint, String what, List<String> diffs) {
    BertWordPieceTokenizer ours = TokenizerLoader.fromTokenizerJson(tokenizerJson);
    try (RustOracle rust = new RustOracle(tokenizerJson)) {
      List<String> texts = new ArrayList<>(BATCH);
      List<Integer> cps = new ArrayList<>(BATCH);
      for (int cp = 0; cp <= lastCodePoint + 1; cp++) {
        boolean flush = cp > lastCodePoint || texts.size() == BATCH;
        if (flush && !texts.isEmpty()) {
          int[][] expected = rust.encodeBatchWithoutSpecialTokens(texts);
          for (int i = 0; i < texts.size(); i++) {
            int[] actual = ours.tokenize(texts.get(i));
            if (!java.util.Arrays.equals(expected[i], actual)) {
              diffs.add(String.format("%s U+%04X type %d: rust %s ours %s", what, cps.get(i),
                  Character.getType(cps.get(i)), java.util.Arrays.toString(expected[i]),
                  java.util.Arrays.toString(actual)));
            }
          }
          texts.clear();
          cps.clear();
        }
        if (cp > lastCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) {
          continue;
        }
        texts.add("a" + new String(Character.toChars(cp)) + "a");
        cps.add(cp);
      }
    }
  }

  private static ObjectNode readJson(Path file) throws IOException {
    return (ObjectNode) new ObjectMapper().readTree(Files.readAllBytes(file));
  }

  private static Path withNormalizer(ObjectNode root, boolean cased, Path out) throws IOException {
    ObjectNode normalizer = (ObjectNode) root.get("normalizer");
    normalizer.put("lowercase", !cased);
    normalizer.put("strip_accents", !cased);
    root.putNull("truncation");
    root.putNull("padding");
    Files.write(out, new ObjectMapper().writeValueAsBytes(root));
    return out;
  }
}
