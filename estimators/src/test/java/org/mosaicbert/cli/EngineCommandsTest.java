package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.cli.EncodeCommandTest.Result;
import org.mosaicbert.io.SafeTensors;
import org.mosaicbert.testing.SharedTestData;

class EngineCommandsTest {
  @TempDir Path tmp;

  @Test
  void checkVectorsPassesOnVectorsA() {
    Result r = EncodeCommandTest.run(new byte[0], "check-vectors", SharedTestData.path("reference/vectors-a")
        .toString(), "--threads", "2");
    assertEquals(0, r.code(), r.out() + r.err());
    assertTrue(r.out().contains("bert.encoder.layer.1.mlp.wo.weight"), r.out());
    assertTrue(r.out().strip().endsWith("PASS"), r.out());
  }

  @Test
  void checkVectorsFailsWhenAnOutputIsWrong() throws IOException {
    Path source = SharedTestData.path("reference/vectors-a");
    Path copy = tmp.resolve("vectors");
    Files.createDirectories(copy);
    try (var files = Files.list(source)) {
      for (Path f : files.toList()) {
        Files.copy(f, copy.resolve(f.getFileName()));
      }
    }
    SafeTensors outputs = SafeTensors.open(copy.resolve("outputs.safetensors"));
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    for (SafeTensors.Entry e : outputs.entries().values()) {
      float[] values = outputs.floats(e.name());
      if (e.name().equals("cls_logits")) {
        values[0] += 1e-3f;
      }
      tensors.add(SafeTensors.Tensor.f32(e.name(), values, e.shape()));
    }
    Files.delete(copy.resolve("outputs.safetensors"));
    SafeTensors.write(copy.resolve("outputs.safetensors"), tensors, Map.of());
    Result r = EncodeCommandTest.run(new byte[0], "check-vectors", copy.toString());
    assertEquals(1, r.code());
    assertTrue(r.out().contains("cls_logits") && r.out().strip().endsWith("FAIL"), r.out());
  }

  @Test
  void benchScoringPrintsRowsPerSecondOnGlueSentences() {
    Result r = EncodeCommandTest.run(new byte[0], "bench", "--preset", "tiny", "--scoring",
        SharedTestData.path("data/glue/SST-2/dev.tsv").toString(), "--vocab", SharedTestData.vocabTxt().toString(),
        "--threads", "1");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().matches("(?s).*872 rows of mean length [0-9.]+ in [0-9.]+ s = [0-9.]+ rows/s.*"), r.out());
  }

  @Test
  void benchPrintsThroughputAndTheRatioToSgemm() {
    Result r = EncodeCommandTest.run(new byte[0], "bench", "--preset", "tiny", "--batch", "2", "--seq-len", "16",
        "--steps", "1", "--threads", "1");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("GFLOP/s"), r.out());
    assertTrue(r.out().matches("(?s).*training step \\(best of 1\\).*tokens/s.*% of SGEMM.*"), r.out());
    assertTrue(r.out().matches("(?s).*inference \\(best of 1\\).*% of SGEMM.*"), r.out());
  }
}
