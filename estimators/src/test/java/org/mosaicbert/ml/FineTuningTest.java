package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.glue.GlueReader;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.testing.SharedTestData;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.TokenizerLoader;
import org.mosaicbert.tokenizer.WordPieceTrainer;

/** Fine-tuning on real GLUE data: text columns tokenized inside the stage, MLlib columns out, Pipeline round trip. */
class FineTuningTest {
  private static SparkSession spark;
  @TempDir static Path tmp;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("finetune-test").config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2").getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static Path vocab(GlueTask task, Path train) throws IOException {
    Map<String, Long> words = new HashMap<>();
    for (GlueReader.Example e : GlueReader.examples(task, train)) {
      BertWordPieceTokenizer.forEachWord(BertNormalizer.uncased(), e.text(), w -> words.merge(w, 1L, Long::sum));
      if (e.pair() != null) {
        BertWordPieceTokenizer.forEachWord(BertNormalizer.uncased(), e.pair(), w -> words.merge(w, 1L, Long::sum));
      }
    }
    Path file = tmp.resolve(task.name() + "-vocab.txt");
    Files.write(file, new WordPieceTrainer(1024, 2, 1000, TokenizerLoader.BERT_SPECIAL_TOKENS).train(words));
    return file;
  }

  @Test
  void classificationOnSst2ScoresWithMllibColumnsAndSurvivesAPipelineRoundTrip() throws IOException {
    GlueTask task = GlueTask.named("SST-2");
    Path trainFile = SharedTestData.path("data/glue/SST-2/train.tsv");
    Dataset<Row> train = GlueReader.read(spark, task, trainFile).limit(256);
    Dataset<Row> dev = GlueReader.read(spark, task, SharedTestData.path("data/glue/SST-2/dev.tsv")).limit(100);
    MosaicBertEstimator estimator = new MosaicBertEstimator().setObjective("classification")
        .setVocab(vocab(task, trainFile).toString()).setModelConfig("tiny").setTextCol("text").setLabelCol("label")
        .setMaxSeqLen(64).setGlobalBatchSize(16).setMicroBatchSize(16).setMaxSteps(32).setLr(1e-3);
    // A stage after the estimator that reads its output: Pipeline.fit checks it against transformSchema.
    PipelineModel fitted = new Pipeline().setStages(new PipelineStage[] {estimator,
        new org.apache.spark.ml.feature.SQLTransformer().setStatement("SELECT *, prediction = label AS right FROM "
            + "__THIS__")}).fit(train);
    Dataset<Row> scored = fitted.transform(dev);
    assertTrue(java.util.Arrays.asList(scored.columns()).containsAll(List.of("rawPrediction", "probability",
        "prediction", "right")));
    double accuracy = new GlueEvaluator().setMetricName("accuracy").evaluate(scored);
    double sparkAccuracy = new org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator()
        .setMetricName("accuracy").evaluate(scored);
    assertEquals(sparkAccuracy, accuracy, 1e-12, "Spark's evaluators read our columns unchanged");
    double auc = new org.apache.spark.ml.evaluation.BinaryClassificationEvaluator().evaluate(scored);
    assertTrue(auc >= 0 && auc <= 1, "areaUnderROC from rawPrediction: " + auc);
    String path = tmp.resolve("sst2-pipeline").toString();
    fitted.write().overwrite().save(path);
    double again = new GlueEvaluator().setMetricName("accuracy").evaluate(PipelineModel.load(path).transform(dev));
    assertEquals(accuracy, again, 0.0, "the loaded pipeline scores the same");
    System.err.printf("SST-2 (tiny, random init, 256 train rows, 32 steps): dev accuracy on 100 rows %.3f%n",
        accuracy);
  }

  @Test
  void regressionOnStsbPairsGivesAPredictionColumn() throws IOException {
    GlueTask task = GlueTask.named("STS-B");
    Path trainFile = SharedTestData.path("data/glue/STS-B/train.tsv");
    Dataset<Row> train = GlueReader.read(spark, task, trainFile).limit(128);
    MosaicBertModel model = new MosaicBertEstimator().setObjective("regression")
        .setVocab(vocab(task, trainFile).toString()).setModelConfig("tiny").setTextCol("text")
        .setTextPairCol("text_pair").setMaxSeqLen(64).setGlobalBatchSize(16).setMicroBatchSize(8).setMaxSteps(8)
        .fit(train);
    assertEquals(1, model.folder().config().numLabels());
    Dataset<Row> scored = model.transform(train.limit(20));
    assertTrue(!java.util.Arrays.asList(scored.columns()).contains("probability"));
    double rmse = new org.apache.spark.ml.evaluation.RegressionEvaluator().setMetricName("rmse").evaluate(scored);
    double squares = 0;
    List<Row> rows = scored.select("prediction", "label").collectAsList();
    for (Row r : rows) {
      squares += Math.pow(r.getDouble(0) - r.getDouble(1), 2);
    }
    assertEquals(Math.sqrt(squares / rows.size()), rmse, 1e-9, "Spark's RegressionEvaluator reads prediction");
    double spearman = new GlueEvaluator().setMetricName("spearman").evaluate(scored);
    assertTrue(spearman >= -1 && spearman <= 1, "spearman " + spearman);
  }

  @Test
  void stringLabelsAreKeptByNameAndPredictedByName() throws IOException {
    GlueTask task = GlueTask.named("RTE");
    Path trainFile = SharedTestData.path("data/glue/RTE/train.tsv");
    // RTE's labels as the file spells them, not as indices.
    Dataset<Row> train = GlueReader.read(spark, task, trainFile).limit(96)
        .withColumn("label", org.apache.spark.sql.functions.when(org.apache.spark.sql.functions.col("label")
            .equalTo(0), "entailment").otherwise("not_entailment"));
    MosaicBertModel model = new MosaicBertEstimator().setObjective("classification")
        .setVocab(vocab(task, trainFile).toString()).setModelConfig("tiny").setTextCol("text")
        .setTextPairCol("text_pair").setMaxSeqLen(64).setGlobalBatchSize(16).setMicroBatchSize(16).setMaxSteps(4)
        .fit(train);
    assertEquals(List.of("entailment", "not_entailment"), model.folder().config().labels());
    String path = tmp.resolve("rte-model").toString();
    model.write().overwrite().save(path);
    MosaicBertModel loaded = MosaicBertModel.load(path);
    assertEquals(List.of("entailment", "not_entailment"), loaded.folder().config().labels(), "config.json id2label");
    List<Row> scored = loaded.transform(train.limit(24)).select("prediction", "predictedLabel").collectAsList();
    for (Row r : scored) {
      assertEquals(r.getDouble(0) == 0 ? "entailment" : "not_entailment", r.getString(1));
    }
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> new MosaicBertEstimator().setObjective("regression").setVocab(path + "/vocab.txt").setTextCol("text")
            .setMaxSteps(1).fit(train));
    assertTrue(e.getMessage().contains("'label' (labelCol) holds strings"), e.getMessage());
  }

  @Test
  void scoringKeepsTheInputOrderGivesNullsForMissingTextAndAddsEmbeddingsOnRequest() throws IOException {
    GlueTask task = GlueTask.named("SST-2");
    Path trainFile = SharedTestData.path("data/glue/SST-2/train.tsv");
    MosaicBertModel model = new MosaicBertEstimator().setObjective("classification")
        .setVocab(vocab(task, trainFile).toString()).setModelConfig("tiny").setTextCol("text").setMaxSeqLen(64)
        .setGlobalBatchSize(16).setMicroBatchSize(16).setMaxSteps(4)
        .fit(GlueReader.read(spark, task, trainFile).limit(64));
    List<Row> rows = new java.util.ArrayList<>(GlueReader.read(spark, task, SharedTestData.path(
        "data/glue/SST-2/dev.tsv")).limit(300).collectAsList());
    rows.set(7, org.apache.spark.sql.RowFactory.create(-1L, null, null, 0.0));
    rows.set(200, org.apache.spark.sql.RowFactory.create(-2L, "", null, 0.0));
    Dataset<Row> dev = spark.createDataFrame(rows, GlueReader.SCHEMA).repartition(1);
    // Windows of 16 batches of 4 sort 64 rows by length at a time; batches of 1 do no reordering at all.
    List<Row> bucketed = model.setBatchSize(4).setEmbeddingCol("embedding").transform(dev)
        .select("idx", "prediction", "rawPrediction", "embedding").collectAsList();
    List<Row> oneByOne = model.setBatchSize(1).transform(dev).select("idx", "prediction", "rawPrediction")
        .collectAsList();
    assertEquals(rows.size(), bucketed.size());
    for (int i = 0; i < rows.size(); i++) {
      assertEquals(rows.get(i).getLong(0), bucketed.get(i).getLong(0), "row " + i + " keeps its place");
      if (i == 7 || i == 200) {
        assertTrue(bucketed.get(i).isNullAt(1) && bucketed.get(i).isNullAt(2) && bucketed.get(i).isNullAt(3),
            "no text, no outputs");
        continue;
      }
      double[] a = ((org.apache.spark.ml.linalg.Vector) bucketed.get(i).get(2)).toArray();
      double[] b = ((org.apache.spark.ml.linalg.Vector) oneByOne.get(i).get(2)).toArray();
      org.junit.jupiter.api.Assertions.assertArrayEquals(b, a, 1e-4, "row " + i + ": same logits in any batch");
      assertEquals(model.folder().config().hiddenSize(),
          ((org.apache.spark.ml.linalg.Vector) bucketed.get(i).get(3)).size());
    }
    Row pooled = model.setEmbeddingPooling("pooled").transform(dev.limit(1)).select("embedding").first();
    Row mean = model.setEmbeddingPooling("mean").transform(dev.limit(1)).select("embedding").first();
    for (double v : ((org.apache.spark.ml.linalg.Vector) pooled.get(0)).toArray()) {
      assertTrue(Math.abs(v) <= 1, "the pooler ends in tanh");
    }
    assertTrue(!pooled.get(0).equals(mean.get(0)), "pooled and mean embeddings differ");
  }
}
