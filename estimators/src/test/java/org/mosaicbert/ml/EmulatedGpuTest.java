package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.backend.cuda.EmulatedGpus;
import org.mosaicbert.backend.cuda.GpuDevices;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.train.StepMetrics;

/**
 * device=gpu through Spark in local mode, on emulated GPUs (the CUDA backend's kernel files run on the CPU; gradients
 * over the TCP ring, since NCCL needs real devices): the glue between Spark and the CUDA backend, checked in every
 * build. Fits through the real barrier launcher follow a device=cpu fit of the same seed and data; scoring tasks on
 * the GPU give the CPU's embeddings and logits within bf16's rounding.
 */
class EmulatedGpuTest {
  /**
   * The largest relative difference of a step's loss from the CPU's: the CUDA backend keeps activations and GEMM
   * inputs in bf16 (8 bits of mantissa, a relative rounding of 0.4% per value), which moves a loss over a few steps
   * by a few hundredths of a percent (CudaTrainingTest); a wrong gradient reduction or a wrong device moves it by
   * whole percents by the second step.
   */
  private static final double LOSS_TOLERANCE = 0.005;
  /**
   * The least cosine between a row's GPU and CPU vectors: bf16 rounding over two layers leaves them at 0.9999 or so;
   * a wrong row, token or layer gives far less.
   */
  private static final double COSINE_TOLERANCE = 0.999;

  private static SparkSession spark;
  private static TokenIdsFixture fixture;

  @TempDir static Path tmp;

  @BeforeAll
  static void setUp() throws IOException {
    assumeTrue(new EmulatedGpus().probe().available(), "no g++ on the PATH: the emulated GPUs cannot be built");
    spark = SparkSession.builder().master("local[2]").appName("emulated-gpu-test")
        .config("spark.ui.enabled", "false").config("spark.barrier.sync.timeout", "120")
        .config(GpuDevices.SPARK_CONF, EmulatedGpus.class.getName())
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2").getOrCreate();
    fixture = TokenIdsFixture.of(spark, tmp, 32);
  }

  @AfterAll
  static void tearDown() {
    if (spark != null) {
      spark.stop();
    }
  }

  /** The losses of a 4-step fit on {@code device} with {@code workers} ranks, from its metrics log. */
  private static List<StepMetrics> fit(String device, int workers) throws IOException {
    Path checkpoints = tmp.resolve(device + "-" + workers);
    MosaicBertModel model = new MosaicBertEstimator().setVocab(fixture.vocabFile().toString()).setModelConfig("tiny")
        .setDevice(device).setNumWorkers(workers).setGlobalBatchSize(8).setMicroBatchSize(4).setMaxSteps(4)
        .setMetricsEvery(1).setCheckpointEvery(4).setSeed(5).setRingTimeoutSeconds(60)
        .setCheckpointDir(checkpoints.toString()).fit(fixture.data());
    for (float p : model.folder().parameters()) {
      assertTrue(Float.isFinite(p), "the fitted weights are finite");
    }
    assertEquals(device, model.getDevice(), "the model scores where it was fitted unless told otherwise");
    return StepMetrics.parseLines(Files.readString(checkpoints.resolve(StepMetrics.FILE_NAME)), "metrics");
  }

  private static void followsTheCpu(int workers) throws IOException {
    List<StepMetrics> cpu = fit("cpu", workers);
    List<StepMetrics> gpu = fit("gpu", workers);
    assertEquals(4, gpu.size(), "a metrics line per step");
    double largest = 0;
    for (int s = 0; s < cpu.size(); s++) {
      double difference = Math.abs(gpu.get(s).loss() - cpu.get(s).loss()) / cpu.get(s).loss();
      System.err.printf("%d worker(s), step %d: cpu %.5f  gpu (emulated) %.5f  (%.3f%%)%n", workers,
          cpu.get(s).step(), cpu.get(s).loss(), gpu.get(s).loss(), 100 * difference);
      largest = Math.max(largest, difference);
    }
    assertTrue(largest <= LOSS_TOLERANCE, "largest loss difference " + 100 * largest + "%");
  }

  @Test
  void oneGpuWorkerFollowsTheCpu() throws IOException {
    followsTheCpu(1);
  }

  @Test
  void twoGpuWorkersFollowTheCpu() throws IOException {
    followsTheCpu(2);
  }

  /** A tiny model with random weights: an MLM encoder, or a 3-label classifier. */
  private static MosaicBertModel model(ParameterLayout.Heads heads) throws IOException {
    List<String> vocab = Files.readAllLines(fixture.vocabFile());
    ModelConfig config = ModelConfig.preset("tiny", vocab.size());
    if (heads == ParameterLayout.Heads.CLASSIFIER) {
      config = config.withHead(3);
    }
    float[] weights = ModelWeights.initial(new ParameterLayout(config, heads), config, 11);
    return new MosaicBertModel("gpu-scoring", new ModelFolder(config, heads, weights, vocab,
        BertNormalizer.uncased()));
  }

  /** The least cosine between the rows' vectors in {@code column} scored on the CPU and on the GPU. */
  private static double leastCosine(MosaicBertModel model, String column) {
    List<Row> cpu = model.setDevice("cpu").transform(fixture.data()).orderBy("sample_id").collectAsList();
    List<Row> gpu = model.setDevice("gpu").transform(fixture.data()).orderBy("sample_id").collectAsList();
    assertEquals(cpu.size(), gpu.size());
    double least = 1;
    for (int r = 0; r < cpu.size(); r++) {
      Vector a = cpu.get(r).getAs(column);
      Vector b = gpu.get(r).getAs(column);
      least = Math.min(least, a.dot(b) / Math.sqrt(a.dot(a) * b.dot(b)));
    }
    System.err.printf("%s: least cosine, GPU (emulated) against CPU, over %d rows: %.6f%n", column, cpu.size(),
        least);
    return least;
  }

  @Test
  void embeddingsScoredOnTheGpuAreTheCpus() throws IOException {
    assertTrue(leastCosine(model(ParameterLayout.Heads.MLM), "embedding") >= COSINE_TOLERANCE);
  }

  @Test
  void logitsScoredOnTheGpuAreTheCpus() throws IOException {
    MosaicBertModel classifier = model(ParameterLayout.Heads.CLASSIFIER);
    assertTrue(leastCosine(classifier, "rawPrediction") >= COSINE_TOLERANCE);
    Dataset<Row> both = classifier.setDevice("cpu").transform(fixture.data()).select("sample_id", "prediction")
        .join(classifier.setDevice("gpu").transform(fixture.data()).select("sample_id", "prediction")
            .withColumnRenamed("prediction", "gpuPrediction"), "sample_id");
    long agree = both.filter("prediction = gpuPrediction").count();
    assertTrue(agree >= both.count() - 1, agree + " of " + both.count() + " predictions agree");
  }

  @Test
  void int8IsTheCpusAndTheGpuSaysSo() throws IOException {
    MosaicBertModel classifier = model(ParameterLayout.Heads.CLASSIFIER).setDevice("gpu").setPrecision("int8");
    String message = assertThrows(IllegalArgumentException.class, () -> classifier.transform(fixture.data()))
        .getMessage();
    assertTrue(message.startsWith("precision int8 scores on the CPU"), message);
  }
}
