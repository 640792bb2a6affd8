package org.mosaicbert.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.mosaicbert.config.ModelConfig;

/** The long-sequence benchmark on tiny at short lengths: its rows, the padded-attention column, the printed table. */
class LongSequenceBenchmarkTest {
  @Test
  void measuresScoringAndTrainingRowsBesideThePaddedAttentionMemory() {
    ModelConfig tiny = ModelConfig.preset("tiny", 30522);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    List<LongSequenceBenchmark.Row> rows = LongSequenceBenchmark.run(tiny, new int[] {64, 300}, new int[] {300},
        600, 1, new PrintStream(bytes, true, StandardCharsets.UTF_8));
    assertEquals(3, rows.size());
    assertEquals("scoring", rows.get(0).what());
    assertEquals(9, rows.get(0).sequences());
    assertEquals("training step", rows.get(2).what());
    assertEquals(2, rows.get(2).sequences());
    for (LongSequenceBenchmark.Row r : rows) {
      assertTrue(r.tokensPerSecond() > 0 && r.peakOffHeapBytes() > 0, r.toString());
      assertEquals(4L * r.sequences() * tiny.numHeads() * r.seqLen() * r.seqLen(), r.paddedAttentionBytesPerLayer());
    }
    String out = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(out.contains("| training step | 300 | 2 |"), out);
  }
}
