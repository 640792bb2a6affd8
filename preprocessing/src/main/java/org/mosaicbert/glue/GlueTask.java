package org.mosaicbert.glue;

import java.util.List;
import java.util.Locale;

/**
 * The GLUE task catalog: where each task's text, pair and label sit in its TSV files, its label set, and the metrics
 * the MosaicBERT recipe reports (docs/model.md §4). Columns are found by header name; CoLA's train and dev files have
 * no
 * header, so their columns are fixed.
 *
 * @param labels the label strings in index order; empty for a regression task (STS-B)
 * @param devFiles the dev files ("dev.tsv", or MNLI's matched and mismatched)
 */
public record GlueTask(String name, String textColumn, String pairColumn, String labelColumn, List<String> labels,
    List<Metric> metrics, List<String> devFiles, boolean inAverage) {

  /** The metrics of the recipe. */
  public enum Metric {
    ACCURACY, F1, MCC, PEARSON, SPEARMAN;

    public String key() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public boolean isRegression() {
    return labels.isEmpty();
  }

  public boolean isPair() {
    return pairColumn != null;
  }

  public static final List<GlueTask> ALL = List.of(
      new GlueTask("CoLA", "sentence", null, "label", List.of("0", "1"), List.of(Metric.MCC), List.of("dev.tsv"), true),
      new GlueTask("SST-2", "sentence", null, "label", List.of("0", "1"), List.of(Metric.ACCURACY), List.of("dev.tsv"),
          true),
      new GlueTask("MRPC", "#1 String", "#2 String", "Quality", List.of("0", "1"),
          List.of(Metric.ACCURACY, Metric.F1), List.of("dev.tsv"), true),
      new GlueTask("STS-B", "sentence1", "sentence2", "score", List.of(), List.of(Metric.SPEARMAN),
          List.of("dev.tsv"), true),
      new GlueTask("QQP", "question1", "question2", "is_duplicate", List.of("0", "1"),
          List.of(Metric.ACCURACY, Metric.F1), List.of("dev.tsv"), true),
      new GlueTask("MNLI", "sentence1", "sentence2", "gold_label", List.of("contradiction", "entailment", "neutral"),
          List.of(Metric.ACCURACY), List.of("dev_matched.tsv", "dev_mismatched.tsv"), true),
      new GlueTask("QNLI", "question", "sentence", "label", List.of("entailment", "not_entailment"),
          List.of(Metric.ACCURACY), List.of("dev.tsv"), true),
      new GlueTask("RTE", "sentence1", "sentence2", "label", List.of("entailment", "not_entailment"),
          List.of(Metric.ACCURACY), List.of("dev.tsv"), true),
      // Read and scored, but not in the average, as in the recipe.
      new GlueTask("WNLI", "sentence1", "sentence2", "label", List.of("0", "1"), List.of(Metric.ACCURACY),
          List.of("dev.tsv"), false));

  public static GlueTask named(String name) {
    return ALL.stream().filter(t -> t.name().equalsIgnoreCase(name)).findFirst().orElseThrow(() ->
        new IllegalArgumentException("unknown GLUE task '" + name + "'; the tasks are "
            + ALL.stream().map(GlueTask::name).toList()));
  }
}
