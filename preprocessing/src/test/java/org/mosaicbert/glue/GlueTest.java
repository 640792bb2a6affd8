package org.mosaicbert.glue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.testing.SharedTestData;

class GlueTest {
  @TempDir Path tmp;

  private static List<GlueReader.Example> read(String task, String file) {
    return GlueReader.examples(GlueTask.named(task), SharedTestData.path("data/glue/" + task + "/" + file));
  }

  private static long count(List<GlueReader.Example> examples, double label) {
    return examples.stream().filter(e -> e.label() != null && e.label() == label).count();
  }

  @Test
  void theSharedGlueFilesReadWithTheirPublishedCountsAndLabels() {
    List<GlueReader.Example> colaTrain = read("CoLA", "train.tsv");
    assertEquals(8551, colaTrain.size(), "CoLA has no header");
    assertEquals(6023, count(colaTrain, 1));
    assertEquals(1043, read("CoLA", "dev.tsv").size(), "CoLA dev has no final newline");
    assertEquals(67349, read("SST-2", "train.tsv").size());
    assertEquals(444, count(read("SST-2", "dev.tsv"), 1));
    List<GlueReader.Example> mrpc = read("MRPC", "train.tsv");
    assertEquals(3667, mrpc.size(), "MRPC's header starts with a BOM");
    assertEquals(2473, count(mrpc, 1));
    assertTrue(mrpc.get(0).pair() != null);
    List<GlueReader.Example> sts = read("STS-B", "dev.tsv");
    assertEquals(1500, sts.size());
    assertTrue(sts.stream().allMatch(e -> e.label() >= 0 && e.label() <= 5));
    List<GlueReader.Example> qnli = read("QNLI", "dev.tsv");
    assertEquals(5463, qnli.size(), "unbalanced quotes do not merge lines");
    assertEquals(2702, count(qnli, 0), "entailment is label 0");
    assertEquals(2490, read("RTE", "train.tsv").size());
    assertEquals(131, count(read("RTE", "dev.tsv"), 1), "not_entailment");
    assertEquals(635, read("WNLI", "train.tsv").size());
    assertNull(read("SST-2", "dev.tsv").get(0).pair());
  }

  @Test
  void mrpcOfficialTrainSplitIsRebuiltFromTheRawFiles() throws IOException {
    Path mrpc = SharedTestData.path("data/glue/MRPC");
    Path rebuilt = tmp.resolve("mrpc-train.tsv");
    assertEquals(3668, GlueReader.rebuildMrpcTrain(mrpc, rebuilt), "the official split's size");
    List<String> lines = Files.readAllLines(rebuilt);
    List<String> shipped = Files.readAllLines(mrpc.resolve("train.tsv"));
    List<String> extra = new java.util.ArrayList<>(lines);
    extra.removeAll(shipped);
    assertEquals(1, extra.size(), "the shipped train.tsv lacks exactly one pair");
    assertTrue(extra.get(0).contains("\t2750203\t2750153\t"), extra.get(0));
    assertTrue(lines.containsAll(shipped), "every shipped pair is in the rebuilt split, byte for byte");
    List<GlueReader.Example> examples = GlueReader.examples(GlueTask.named("MRPC"), rebuilt);
    assertEquals(2474, examples.stream().filter(e -> e.label() == 1.0).count(), "2,473 paraphrases + the missing one");
    assertTrue(!Files.exists(tmp.resolve("mrpc-train.tsv.tmp")), "no temporary file left");
  }

  @Test
  void testFilesHaveNoLabelsAndBadLabelsAreNamed() throws IOException {
    Path test = tmp.resolve("test.tsv");
    Files.writeString(test, "index\tsentence\n0\tit is good .\n1\tit is bad .\n");
    List<GlueReader.Example> rows = GlueReader.examples(GlueTask.named("SST-2"), test);
    assertEquals(2, rows.size());
    assertNull(rows.get(1).label());
    Path bad = tmp.resolve("bad.tsv");
    Files.writeString(bad, "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n");
    String message = assertThrows(IllegalArgumentException.class,
        () -> GlueReader.examples(GlueTask.named("RTE"), bad)).getMessage();
    assertTrue(message.contains("line 2: label 'maybe' is not one of [entailment, not_entailment]"), message);
  }

  @Test
  void invalidUtf8IsRefusedNamingTheLine() throws IOException {
    Path bad = tmp.resolve("train.tsv");
    Files.write(bad, "sentence\tlabel\nit is good .\t1\nit is \u00ff bad .\t0\n".getBytes(
        java.nio.charset.StandardCharsets.ISO_8859_1));
    String message = assertThrows(IllegalArgumentException.class,
        () -> GlueReader.examples(GlueTask.named("SST-2"), bad)).getMessage();
    assertEquals(bad + " line 3: invalid UTF-8; the input must be UTF-8 text", message);
  }

  @Test
  void metricsMatchTheirDefinitions() {
    double[] p = {1, 1, 0, 0, 1};
    assertEquals(0.6, GlueMetrics.compute(GlueTask.Metric.ACCURACY, p, new double[] {1, 0, 0, 1, 1}), 1e-12);
    assertEquals(2.0 / 3, GlueMetrics.compute(GlueTask.Metric.F1, p, new double[] {1, 0, 0, 1, 1}), 1e-12);
    assertEquals(2.0 / 3, GlueMetrics.compute(GlueTask.Metric.MCC, p, new double[] {1, 0, 0, 0, 1}), 1e-12);
    assertEquals(1.0, GlueMetrics.compute(GlueTask.Metric.PEARSON, new double[] {1, 2, 3}, new double[] {2, 4, 6}),
        1e-12);
    assertEquals(4.5 / Math.sqrt(22.5), GlueMetrics.compute(GlueTask.Metric.SPEARMAN, new double[] {1, 2, 2, 3},
        new double[] {1, 3, 2, 4}), 1e-12, "ties share their average rank");
  }

  @Test
  void theGlueAverageFollowsTheRecipe() {
    GlueScore score = GlueScore.of(Map.of(
        "MNLI", List.of(0.84, 0.86), "MRPC", List.of(0.88, 0.92), "CoLA", List.of(0.5, 0.6), "WNLI", List.of(0.3)));
    assertEquals(85.0, score.perTask().get("MNLI"), 1e-9);
    assertEquals(90.0, score.perTask().get("MRPC"), 1e-9);
    assertEquals((85.0 + 90.0 + 55.0) / 3, score.average(), 1e-9, "WNLI is left out of the average");
    assertTrue(score.note().contains("not comparable with the published 84.3"), score.note());
    assertEquals(List.of("SST-2", "STS-B", "QQP", "QNLI", "RTE"), score.missing());
  }
}
