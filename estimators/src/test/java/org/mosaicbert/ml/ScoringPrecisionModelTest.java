package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.glue.GlueReader;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.testing.SharedTestData;
import org.mosaicbert.tokenizer.BertNormalizer;

/**
 * MosaicBertModel's precision: SST-2 dev sentences scored at bf16 and int8 close to fp32 (classes, probabilities,
 * embeddings), the setting kept by save and load, alone and in a PipelineModel, and a bad value refused by name.
 */
class ScoringPrecisionModelTest {
  @TempDir static Path tmp;
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("scoring-precision-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  /** A random 3-class classifier of 4 layers over bert-base-uncased's vocabulary. */
  private static MosaicBertModel classifier() throws Exception {
    List<String> vocab = Files.readAllLines(SharedTestData.vocabTxt());
    ModelConfig config = new ModelConfig(30528, 128, 4, 4, 256, 2, 1e-12, 0.1, 0.0, -1, 0.05, 3, null, 0, 128, 128,
        null);
    ParameterLayout layout = new ParameterLayout(config, ParameterLayout.Heads.CLASSIFIER);
    return new ModelFolder(config, ParameterLayout.Heads.CLASSIFIER, ModelWeights.initial(layout, config, 21), vocab,
        BertNormalizer.uncased()).toModel().setTextCol("text").setMaxSeqLen(64).setThreadsPerWorker(2);
  }

  private static Dataset<Row> sentences() {
    List<Row> rows = GlueReader.examples(GlueTask.named("SST-2"), SharedTestData.path("data/glue/SST-2/dev.tsv"))
        .subList(0, 300).stream().map(e -> RowFactory.create(e.text())).toList();
    return spark.createDataFrame(rows, new StructType().add("text", DataTypes.StringType)).repartition(1);
  }

  private static List<Row> score(MosaicBertModel model, String precision) {
    return model.setPrecision(precision).transform(sentences()).select("probability", "prediction", "embedding")
        .collectAsList();
  }

  @Test
  void bf16AndInt8ScoreSst2SentencesCloseToFp32() throws Exception {
    MosaicBertModel model = classifier().setEmbeddingCol("embedding");
    assertEquals("fp32", model.getOrDefault(model.precision()));
    List<Row> fp32 = score(model, "fp32");
    for (String precision : List.of("bf16", "int8")) {
      List<Row> got = score(model, precision);
      int changed = 0;
      double largest = 0;
      double smallestCosine = 1;
      for (int i = 0; i < fp32.size(); i++) {
        double[] p = ((Vector) got.get(i).get(0)).toArray();
        double[] q = ((Vector) fp32.get(i).get(0)).toArray();
        for (int k = 0; k < p.length; k++) {
          largest = Math.max(largest, Math.abs(p[k] - q[k]));
        }
        changed += got.get(i).getDouble(1) == fp32.get(i).getDouble(1) ? 0 : 1;
        smallestCosine = Math.min(smallestCosine, cosine((Vector) got.get(i).get(2), (Vector) fp32.get(i).get(2)));
      }
      assertTrue(largest > 0, precision + " computes something other than fp32");
      assertTrue(largest < 0.02, precision + ": largest change of a probability " + largest);
      assertTrue(changed <= 6, precision + ": " + changed + " of 300 predictions changed");
      assertTrue(smallestCosine > (precision.equals("bf16") ? 0.999 : 0.99), precision + ": smallest cosine of an "
          + "embedding to fp32's " + smallestCosine);
    }
  }

  private static double cosine(Vector a, Vector b) {
    return a.dot(b) / Math.sqrt(a.dot(a) * b.dot(b));
  }

  @Test
  void savingAndLoadingKeepThePrecisionAloneAndInAPipeline() throws Exception {
    MosaicBertModel model = classifier().setPrecision("int8");
    List<Row> before = model.transform(sentences()).select("probability").collectAsList();
    String alone = tmp.resolve("alone").toString();
    model.write().save(alone);
    MosaicBertModel loaded = MosaicBertModel.load(alone);
    assertEquals("int8", loaded.getOrDefault(loaded.precision()));
    assertEquals(before, loaded.transform(sentences()).select("probability").collectAsList());

    String piped = tmp.resolve("pipeline").toString();
    new Pipeline().setStages(new PipelineStage[] {model}).fit(sentences()).write().save(piped);
    MosaicBertModel inPipeline = (MosaicBertModel) PipelineModel.load(piped).stages()[0];
    assertEquals("int8", inPipeline.getOrDefault(inPipeline.precision()));
  }

  @Test
  void aPrecisionThatIsNotOneIsRefusedByName() throws Exception {
    MosaicBertModel model = classifier();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.setPrecision("int4"));
    assertTrue(e.getMessage().contains("precision") && e.getMessage().contains("int4"), e.getMessage());
  }
}
