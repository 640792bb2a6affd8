package org.mosaicbert.glue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The GLUE average as the recipe computes it ({@code glue.py}): per task, the mean over all its metric values and
 * seeds, ×100 (MNLI: matched and mismatched accuracy; QQP and MRPC: accuracy and F1; STS-B: Spearman); then the
 * unweighted mean over the tasks in the average (WNLI is not). Fewer than the eight recipe tasks make an average that
 * is not comparable with the published 84.3, and {@link #note()} says so.
 */
public record GlueScore(Map<String, Double> perTask, double average, List<String> missing) {

  /**
   * @param results task name → every metric value of every seed (MNLI: both dev sets), each in [0, 1] (or [−1, 1])
   */
  public static GlueScore of(Map<String, List<Double>> results) {
    Map<String, Double> perTask = new java.util.LinkedHashMap<>();
    List<String> missing = new ArrayList<>();
    double sum = 0;
    int counted = 0;
    for (GlueTask task : GlueTask.ALL) {
      List<Double> values = results.get(task.name());
      if (values == null || values.isEmpty()) {
        if (task.inAverage()) {
          missing.add(task.name());
        }
        continue;
      }
      double score = 100 * values.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
      perTask.put(task.name(), score);
      if (task.inAverage()) {
        sum += score;
        counted++;
      }
    }
    return new GlueScore(perTask, counted == 0 ? Double.NaN : sum / counted, missing);
  }

  public String note() {
    return missing.isEmpty() ? "the average of the eight recipe tasks (WNLI left out), comparable with 84.3"
        : "the average of " + (8 - missing.size()) + " of the eight recipe tasks (missing: " + String.join(", ", missing)
            + "); it is not comparable with the published 84.3";
  }
}
