package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.testing.SharedTestData;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.TokenizerSpec;

/**
 * Texts longer than maxSeqLen: scored in windows and pooled, equal to the same windows scored as separate rows; and a
 * sequence too long for the task's memory is an error that names the row and what to change.
 */
class LongTextScoringTest {
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[1]").appName("long-text-scoring-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  /** A small random classifier over bert-base-uncased's vocabulary (3 classes), configured for 64 tokens. */
  private static MosaicBertModel classifier(List<String> vocab) {
    ModelConfig config = new ModelConfig(30528, 32, 2, 2, 64, 2, 1e-12, 0.1, 0.0, -1, 0.02, 3, null, 0, 64, 64, null);
    ParameterLayout layout = new ParameterLayout(config, ParameterLayout.Heads.CLASSIFIER);
    return new ModelFolder(config, ParameterLayout.Heads.CLASSIFIER, ModelWeights.initial(layout, config, 21), vocab,
        BertNormalizer.uncased()).toModel();
  }

  @Test
  void aLongC4DocumentScoredInWindowsEqualsItsWindowsScoredAsRowsAndPooled() throws Exception {
    List<String> vocab = Files.readAllLines(SharedTestData.vocabTxt());
    String document = Files.readAllLines(SharedTestData.path("data/c4/c4-en-train.00000-of-01024.first1000.jsonl"))
        .stream().map(line -> readText(line)).max(Comparator.comparingInt(String::length)).orElseThrow();
    int maxSeqLen = 128;
    int stride = 96;
    int[] ids = TokenizerSpec.bert(vocab, BertNormalizer.uncased()).build().encode(document);
    List<int[]> windows = Windows.of(ids, maxSeqLen, stride);
    assertTrue(windows.size() >= 5, "the longest C4 document of the sample is " + ids.length + " tokens");

    MosaicBertModel model = classifier(vocab).setEmbeddingCol("embedding").setMaxSeqLen(maxSeqLen);
    Row windowed = model.setTextCol("text").setWindowStride(stride)
        .transform(spark.createDataFrame(List.of(RowFactory.create(document)),
            new StructType().add("text", DataTypes.StringType)))
        .select("rawPrediction", "probability", "prediction", "embedding").first();

    List<Row> rows = new ArrayList<>();
    for (int[] w : windows) {
      rows.add(RowFactory.create((Object) Arrays.stream(w).boxed().toArray(Integer[]::new)));
    }
    Dataset<Row> asRows = spark.createDataFrame(rows,
        new StructType().add("input_ids", DataTypes.createArrayType(DataTypes.IntegerType)));
    List<Row> each = model.setTextCol("").setWindowStride(0).transform(asRows).select("rawPrediction", "embedding")
        .collectAsList();
    double[] logits = mean(each, 0);
    double[] embedding = mean(each, 1);
    assertArrayEquals(logits, ((Vector) windowed.get(0)).toArray(), 0, "the mean of the windows' logits");
    assertArrayEquals(embedding, ((Vector) windowed.get(3)).toArray(), 0, "the mean of the windows' embeddings");
    double[] probability = ((Vector) windowed.get(1)).toArray();
    int argmax = 0;
    for (int k = 1; k < logits.length; k++) {
      argmax = logits[k] > logits[argmax] ? k : argmax;
    }
    assertEquals(argmax, windowed.getDouble(2), 0, "the prediction follows the pooled logits");
    assertEquals(1, Arrays.stream(probability).sum(), 1e-12);
  }

  @Test
  void aSequenceTooLongForTheTasksMemoryIsAnErrorNamingTheRowAndTheSettings() {
    // Wide layers, so that the memory of a scoring task runs out within an ids row a test can hold.
    ModelConfig config = new ModelConfig(128, 512, 1, 8, 4096, 2, 1e-12, 0.1, 0.0, -1, 0.02, 2, null, 0, 64, 64, null);
    long perToken;
    try (CpuBackend cpu = new CpuBackend(1)) {
      perToken = MosaicBert.activationBytes(config, cpu, new MosaicBert.Capacity(1000, 1, 1000, 0),
          MosaicBert.Mode.INFERENCE) / 1000;
    }
    long limit = Pointer.maxBytes() > 0 ? Pointer.maxBytes() : Runtime.getRuntime().maxMemory();
    int tooLong = (int) (limit / 2 / perToken) + 1000;
    ParameterLayout layout = new ParameterLayout(config, ParameterLayout.Heads.MLM);
    MosaicBertModel model = new ModelFolder(config, ParameterLayout.Heads.MLM, ModelWeights.initial(layout, config,
        1), List.of(), BertNormalizer.uncased()).toModel();
    Integer[] ids = new Integer[tooLong];
    Arrays.fill(ids, 5);
    Dataset<Row> rows = spark.createDataFrame(List.of(RowFactory.create((Object) new Integer[] {1, 5, 2}),
        RowFactory.create((Object) ids)), new StructType().add("input_ids",
        DataTypes.createArrayType(DataTypes.IntegerType)));
    Exception e = assertThrows(Exception.class, () -> model.transform(rows).collectAsList());
    String message = messages(e);
    assertTrue(message.contains("row 1 of partition 0 is " + tooLong + " tokens long"), message);
    assertTrue(message.contains("set windowStride") && message.contains("Lower maxSeqLen")
        && message.contains("spark.executor.memory"), message);
  }

  @Test
  void aStrideThatWouldSkipTokensIsRefused() {
    MosaicBertModel model = classifier(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]")).setTextCol("text")
        .setMaxSeqLen(64).setWindowStride(63);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> model.transformSchema(new StructType().add("text", DataTypes.StringType)));
    assertTrue(e.getMessage().contains("windowStride 63 must be in 1..62"), e.getMessage());
  }

  private static String readText(String jsonLine) {
    try {
      return new ObjectMapper().readTree(jsonLine).get("text").asText();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static double[] mean(List<Row> rows, int column) {
    double[] sum = new double[((Vector) rows.get(0).get(column)).size()];
    for (Row r : rows) {
      double[] v = ((Vector) r.get(column)).toArray();
      for (int c = 0; c < sum.length; c++) {
        sum[c] += v[c];
      }
    }
    for (int c = 0; c < sum.length; c++) {
      sum[c] /= rows.size();
    }
    return sum;
  }

  /** Spark wraps a task's exception: every message of the chain. */
  private static String messages(Throwable e) {
    StringBuilder all = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause()) {
      all.append(t.getMessage()).append('\n');
    }
    return all.toString();
  }
}
