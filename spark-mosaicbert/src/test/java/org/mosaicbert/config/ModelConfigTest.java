package org.mosaicbert.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.testing.SharedTestData;

class ModelConfigTest {
  @TempDir Path tmp;

  @Test
  void configJsonRoundTrips() throws IOException {
    ModelConfig golden = ModelConfig.read(SharedTestData.path("reference/vectors-a/config.json"));
    assertEquals(128, golden.vocabSize());
    assertEquals(3, golden.numLabels());
    assertEquals("single_label_classification", golden.problemType());
    Path file = tmp.resolve("config.json");
    golden.write(file, List.of("BertForMaskedLM"));
    assertEquals(golden, ModelConfig.read(file));
    ModelConfig regression = ModelConfig.preset("tiny", 1000).withHead(1);
    regression.write(file, List.of("BertForSequenceClassification"));
    assertEquals(regression, ModelConfig.read(file));
    assertEquals(1024, regression.vocabSize(), "1000 padded to a multiple of 64");
  }

  @Test
  void inconsistentValuesNameTheKey() throws IOException {
    Path file = tmp.resolve("config.json");
    Files.writeString(file, "{\"vocab_size\": 100, \"hidden_size\": 770, \"num_hidden_layers\": 2, "
        + "\"num_attention_heads\": 12, \"intermediate_size\": 64}");
    String message = assertThrows(IllegalArgumentException.class, () -> ModelConfig.read(file)).getMessage();
    assertTrue(message.contains("hidden_size = 770 is not a multiple of num_attention_heads 12"), message);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> ModelConfig.preset("huge", 100)).getMessage()
        .contains("the presets are [tiny, mini, small, base, large]"));
  }

  /** Values that would run out of memory after minutes, wrap, or compute something else are refused up front. */
  @Test
  void valuesOutOfRangeOrNotImplementedAreRefusedNamingTheKey() throws IOException {
    String base = "\"vocab_size\": 128, \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
        + "\"intermediate_size\": 128";
    String[][] cases = {
        {"\"num_hidden_layers\": 1000000000", "num_hidden_layers = 1000000000 must be an integer in [1, 1000]"},
        {"\"hidden_size\": 4294967424", "hidden_size = 4294967424 must be an integer"},
        {"\"vocab_size\": 2000000000", "vocab_size = 2000000000 must be an integer in [1, 16777216]"},
        {"\"intermediate_size\": 1000000, \"hidden_size\": 4096, \"num_attention_heads\": 4",
            "the engine holds at most"},
        {"\"hidden_act\": \"relu\"", "hidden_act = \"relu\" is not implemented"},
        {"\"layer_norm_eps\": \"small\"", "layer_norm_eps = \"small\" must be a finite number"},
    };
    Path file = tmp.resolve("config.json");
    for (String[] c : cases) {
      // a later key wins in Jackson's tree: the case's values override the base's
      Files.writeString(file, "{" + base + ", " + c[0] + "}");
      String message = assertThrows(IllegalArgumentException.class, () -> ModelConfig.read(file)).getMessage();
      assertTrue(message.contains(c[1]) && message.contains(file.toString()), c[0] + ": " + message);
    }
  }

  @Test
  void aFileThatIsNotJsonIsNamedButNotQuoted() throws IOException {
    Path file = tmp.resolve("secrets.txt");
    Files.writeString(file, "password=hunter2\n");
    String message = assertThrows(IllegalArgumentException.class, () -> ModelConfig.read(file)).getMessage();
    assertTrue(message.contains(file.toString()) && message.contains("not valid JSON"), message);
    assertTrue(!message.contains("hunter2") && !message.contains("password"), "the file's text leaked: " + message);
  }
}
