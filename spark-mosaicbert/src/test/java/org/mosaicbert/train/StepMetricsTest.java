package org.mosaicbert.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** metrics.jsonl is written and read by StepMetrics alone. */
class StepMetricsTest {
  private static final StepMetrics STEP_3 = new StepMetrics(3, 10, 7.25, 0.125, 4.5e-4, 2.5, 1234.5, 0.5, 0.375,
      0.125);

  @Test
  void aLineReadsBackAsWritten() {
    String text = STEP_3.toJsonLine() + "\n\n" + STEP_3.toJsonLine() + "\n";
    assertEquals(List.of(STEP_3, STEP_3), StepMetrics.parseLines(text, "metrics.jsonl"));
    assertTrue(STEP_3.toJsonLine().contains("\"tokens_per_s\":1234.5"), "the keys the notebooks chart");
  }

  @Test
  void aLastLineStillBeingWrittenIsLeftForTheNextRead() {
    String line = STEP_3.toJsonLine();
    String text = line + "\n" + line.substring(0, line.length() / 2);
    assertEquals(List.of(STEP_3), StepMetrics.parseLines(text, "metrics.jsonl"));
  }

  @Test
  void aLineThatIsNotMetricsIsNamed() {
    String text = STEP_3.toJsonLine() + "\n{\"loss\": NaN, \"step\": 4\n";
    String message = assertThrows(IllegalArgumentException.class,
        () -> StepMetrics.parseLines(text, "ckpt/metrics.jsonl")).getMessage();
    assertTrue(message.startsWith("ckpt/metrics.jsonl, line 2 is not JSON"), message);
  }
}
