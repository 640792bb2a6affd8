package org.mosaicbert.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.data.ShardManifest;

class TokenizerConfigTest {
  @TempDir Path tmp;

  private static BertNormalizer parse(String json) {
    return TokenizerConfig.parse(json.getBytes(StandardCharsets.UTF_8), "tokenizer_config.json");
  }

  @Test
  void missingKeysMeanWhatHuggingFaceBertTokenizerDefaultsTo() {
    assertEquals(BertNormalizer.uncased(), parse("{\"tokenizer_class\": \"BertTokenizer\"}"));
    assertEquals(BertNormalizer.uncased(), parse("{\"do_lower_case\": true, \"strip_accents\": null}"));
  }

  @Test
  void stripAccentsFollowsLowerCaseUnlessGiven() {
    assertEquals(BertNormalizer.cased(), parse("{\"do_lower_case\": false}"));
    assertEquals(new BertNormalizer(true, true, false, true),
        parse("{\"do_lower_case\": true, \"strip_accents\": false}"));
    assertEquals(new BertNormalizer(true, false, true, false),
        parse("{\"do_lower_case\": false, \"strip_accents\": true, \"tokenize_chinese_chars\": false}"));
  }

  @Test
  void everyNormalizerSurvivesAWriteAndRead() throws Exception {
    for (int bits = 0; bits < 16; bits++) {
      BertNormalizer normalizer = new BertNormalizer((bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0,
          (bits & 8) != 0);
      ObjectNode json = new ObjectMapper().createObjectNode();
      TokenizerConfig.putFlags(json, normalizer);
      Path file = tmp.resolve("tokenizer_config-" + bits + ".json");
      Files.write(file, new ObjectMapper().writeValueAsBytes(json));
      assertEquals(normalizer, TokenizerConfig.read(file));
      assertEquals(normalizer.cleanText(), !json.has("clean_text"), "clean_text only when off: " + json);
    }
  }

  @Test
  void aValueOfTheWrongTypeNamesTheFileAndKey() {
    String message = assertThrows(IllegalArgumentException.class,
        () -> parse("{\"do_lower_case\": \"false\"}")).getMessage();
    assertTrue(message.contains("tokenizer_config.json: do_lower_case must be true or false"), message);
    message = assertThrows(IllegalArgumentException.class, () -> parse("[true]")).getMessage();
    assertTrue(message.contains("tokenizer_config.json must hold a JSON object"), message);
    message = assertThrows(IllegalArgumentException.class, () -> parse("{\"strip_accents\": 1")).getMessage();
    assertTrue(message.contains("tokenizer_config.json is not valid JSON"), message);
    message = assertThrows(IllegalArgumentException.class,
        () -> TokenizerConfig.read(tmp.resolve("missing.json"))).getMessage();
    assertTrue(message.contains("missing.json does not exist"), message);
  }

  @Test
  void theShardManifestKeepsItsFourFlagsAndGivesTheNormalizerBack() {
    BertNormalizer cased = BertNormalizer.cased();
    ShardManifest.Tokenizer flags = ShardManifest.Tokenizer.of(cased);
    assertEquals(cased, flags.normalizer());
    List<String> keys = new java.util.ArrayList<>();
    new ObjectMapper().valueToTree(flags).fieldNames().forEachRemaining(keys::add);
    assertEquals(4, keys.size(), "no key for the derived normalizer: " + keys);
  }
}
