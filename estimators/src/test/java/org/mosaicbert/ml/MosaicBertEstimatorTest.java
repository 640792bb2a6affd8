package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mosaicbert.testing.WeightComparison.relativeDifference;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.testing.TestCorpora;
import org.mosaicbert.train.StepHook;
import org.mosaicbert.train.StepMetrics;

/** The estimator in Spark local mode with 4 slots and task retries (local[4,2]): real barrier stages. */
class MosaicBertEstimatorTest {
  private static SparkSession spark;
  private static Path vocabFile;
  private static Dataset<Row> data;

  @TempDir static Path tmp;

  @BeforeAll
  static void setUp() throws IOException {
    spark = SparkSession.builder().master("local[4,2]").appName("estimator-test")
        .config("spark.ui.enabled", "false").config("spark.barrier.sync.timeout", "60")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2").getOrCreate();
    TokenIdsFixture fixture = TokenIdsFixture.of(spark, tmp, 200);
    vocabFile = fixture.vocabFile();
    data = fixture.data();
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  private static MosaicBertEstimator estimator(int workers) {
    return new MosaicBertEstimator().setVocab(vocabFile.toString()).setModelConfig("tiny").setNumWorkers(workers)
        .setGlobalBatchSize(8).setMicroBatchSize(4).setMaxSteps(6).setLr(2e-3).setRingTimeoutSeconds(20);
  }

  @Test
  void deviceGpuFailsClearlyWithoutCudaAndTheCpuStillTrainsInTheSameJvm() {
    String gpu = assertThrows(IllegalArgumentException.class, () -> estimator(1).setDevice("gpu").fit(data))
        .getMessage();
    assertTrue(gpu.contains("device=gpu") && gpu.contains("device=cpu"), gpu);
    if (!org.mosaicbert.backend.cuda.CudaProbe.available()) {
      assertTrue(gpu.contains("no usable CUDA device ("), gpu);
    }
    // The failed CUDA load (UnsatisfiedLinkError, then NoClassDefFoundError) must leave the CPU path intact.
    float[] auto = estimator(1).setDevice("auto").fit(data).folder().parameters();
    float[] cpu = estimator(1).setDevice("cpu").fit(data).folder().parameters();
    assertEquals(0.0, relativeDifference(auto, cpu), "auto falls back to the same CPU training");
    String again = assertThrows(IllegalArgumentException.class, () -> estimator(1).setDevice("gpu").fit(data))
        .getMessage();
    assertEquals(gpu, again, "the probe runs once and gives the same answer");
  }

  /** As the upstream seqlen-1024 and -2048 configs: a preset trained past 512 tokens has its ALiBi size at that. */
  @Test
  void theModelRecordsTheLengthItWasTrainedAt() {
    ModelFolder usual = estimator(1).setMaxSteps(1).fit(data).folder();
    assertEquals(256, usual.trainedSeqLen(), "maxSeqLen's default");
    assertEquals(512, usual.config().alibiStartingSize(), "the preset's");
    ModelFolder longer = estimator(1).setMaxSteps(1).setMaxSeqLen(1024).fit(data).folder();
    assertEquals(1024, longer.trainedSeqLen());
    assertEquals(1024, longer.config().alibiStartingSize());
  }

  /** An initModel whose weights every rank would refuse fails on the driver, not in four attempts of the stage. */
  @Test
  void anInitModelWithWeightsThatAreNotFiniteIsRefusedOnTheDriver() throws IOException {
    ModelFolder trained = estimator(1).setMaxSteps(1).fit(data).folder();
    float[] broken = trained.parameters().clone();
    broken[7] = Float.NaN;
    Path folder = tmp.resolve("not-finite");
    new ModelFolder(trained.config(), trained.heads(), broken, trained.vocab(), trained.normalizer(),
        trained.trainedSeqLen()).writeLocal(Files.createDirectories(folder));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> estimator(1).setInitModel(folder.toString()).fit(data));
    assertTrue(e.getMessage().contains("holds NaN at index 7") && e.getMessage().contains("cannot be used"),
        e.getMessage());
  }

  @Test
  void oneTwoAndFourWorkersTrainTheSameModel() {
    float[] one = estimator(1).fit(data).folder().parameters();
    float[] two = estimator(2).fit(data).folder().parameters();
    float[] four = estimator(4).fit(data).folder().parameters();
    assertTrue(relativeDifference(one, two) < 1e-5, "2 workers: " + relativeDifference(one, two));
    assertTrue(relativeDifference(one, four) < 1e-5, "4 workers: " + relativeDifference(one, four));
  }

  @Test
  void aKilledTaskIsRetriedAndResumesToTheSameBits() {
    float[] straight = estimator(2).fit(data).folder().parameters();
    String dir = tmp.resolve("checkpoints").toString();
    Path fired = tmp.resolve("fault-fired");
    float[] resumed = estimator(2).setCheckpointDir(dir).setCheckpointEvery(2).setStepHook(failOnce(1, 4, fired))
        .fit(data).folder().parameters();
    assertTrue(Files.exists(fired), "the fault fired, and Spark retried the barrier stage");
    assertArrayEquals(straight, resumed, "resumed from the step-4 checkpoint: bit-identical weights");
    assertTrue(Files.exists(tmp.resolve("checkpoints").resolve(StepMetrics.FILE_NAME)));
  }

  /**
   * A hook that fails rank {@code rank} before step {@code step}, once: the first time, it creates {@code fired}; a
   * retried stage finds the file and goes on (a file, since the hook travels to the tasks serialized).
   */
  static StepHook failOnce(int rank, long step, Path fired) {
    String marker = fired.toString();
    return (r, s) -> {
      if (r == rank && s == step) {
        try {
          Files.createFile(Path.of(marker));
        } catch (java.nio.file.FileAlreadyExistsException e) {
          return;
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
        throw new IllegalStateException("rank " + rank + " fails before step " + step + " (a test's step hook)");
      }
    };
  }

  @Test
  void theModelEmbedsRowsAndSavesAndLoadsInAPipeline() throws IOException {
    Pipeline pipeline = new Pipeline().setStages(new PipelineStage[] {estimator(1).setMaxSteps(2)});
    pipeline.write().overwrite().save(tmp.resolve("unfitted").toString());
    MosaicBertEstimator reloaded = (MosaicBertEstimator) Pipeline.load(tmp.resolve("unfitted").toString())
        .getStages()[0];
    assertEquals(2L, reloaded.getOrDefault(reloaded.maxSteps()), "the estimator's params survive save and load");
    PipelineModel fitted = pipeline.fit(data);
    Dataset<Row> scored = fitted.transform(data.limit(5));
    List<Row> rows = scored.select("sample_id", "embedding").collectAsList();
    assertEquals(5, rows.size());
    assertEquals(128, ((Vector) rows.get(0).get(1)).size(), "tiny: hidden 128");
    String path = tmp.resolve("pipeline").toString();
    fitted.write().overwrite().save(path);
    assertTrue(Files.exists(tmp.resolve("pipeline/stages").toFile().listFiles()[0].toPath().resolve("config.json")));
    PipelineModel loaded = PipelineModel.load(path);
    List<Row> again = loaded.transform(data.limit(5)).select("sample_id", "embedding").collectAsList();
    assertEquals(rows, again, "the loaded model gives the same embeddings");
  }

  @Test
  void shardsAreReadThroughTheirManifestWithTheSameResultForAnyWorkerCount() throws IOException {
    Path docs = tmp.resolve("docs.jsonl");
    List<String> lines = new ArrayList<>();
    for (String d : TestCorpora.c4Documents().subList(0, 200)) {
      lines.add(new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode().put("text", d).toString());
    }
    Files.write(docs, lines);
    String shards = tmp.resolve("shards").toString();
    org.mosaicbert.data.TokenizeJob.run(spark, new org.mosaicbert.data.TokenizeJob.Options(docs.toString(),
        vocabFile.toString(), shards, 32, null, "text", 40, true, false, false, 8192));
    Dataset<Row> read = spark.read().parquet(shards + "/shard-*.parquet");
    assertTrue(TrainingData.manifestOf(read, spark.sparkContext().hadoopConfiguration()) != null);
    assertTrue(TrainingData.manifestOf(read.limit(10), spark.sparkContext().hadoopConfiguration()) == null,
        "a filtered read is not the shard folder");
    float[] one = estimator(1).fit(read).folder().parameters();
    float[] two = estimator(2).fit(read).folder().parameters();
    assertTrue(relativeDifference(one, two) < 1e-5, "2 workers: " + relativeDifference(one, two));
    Path otherVocab = tmp.resolve("other-vocab.txt");
    List<String> other = new ArrayList<>(Files.readAllLines(vocabFile));
    other.set(other.size() - 1, "##zzz");
    Files.write(otherVocab, other);
    String message = assertThrows(IllegalArgumentException.class,
        () -> estimator(1).setVocab(otherVocab.toString()).fit(read)).getMessage();
    assertTrue(message.contains("the shards were tokenized with another vocabulary"), message);
  }

  @Test
  void badInputsAreRefusedWithClearMessages() {
    String missing = assertThrows(IllegalArgumentException.class,
        () -> estimator(1).setInputIdsCol("tokens").fit(data)).getMessage();
    assertTrue(missing.contains("no column 'tokens' (inputIdsCol)"), missing);
    String wrongType = assertThrows(IllegalArgumentException.class,
        () -> estimator(1).setInputIdsCol("sample_id").fit(data)).getMessage();
    assertTrue(wrongType.contains("must be array<int>, got bigint"), wrongType);
    Dataset<Row> outside = spark.createDataFrame(List.of(RowFactory.create(1L, List.of(2, 99999, 3))),
        data.schema());
    String ids = assertThrows(IllegalArgumentException.class, () -> estimator(1).fit(outside)).getMessage();
    assertTrue(ids.contains("sample 1 has token id 99999 at position 1, outside the vocabulary"), ids);
    String empty = assertThrows(IllegalArgumentException.class, () -> estimator(1).fit(data.limit(0)))
        .getMessage();
    assertTrue(empty.contains("the dataset is empty"), empty);
    String slots = assertThrows(IllegalArgumentException.class, () -> estimator(8).fit(data)).getMessage();
    assertTrue(slots.contains("numWorkers 8 is more than the 4 task slots of this cluster (local[4,2]"), slots);
    String dir = tmp.resolve("other-config").toString();
    estimator(1).setMaxSteps(2).setCheckpointDir(dir).setCheckpointEvery(1).fit(data);
    // Another preset's checkpoints are refused on the driver, before any barrier stage (even with changes allowed).
    IllegalArgumentException other = assertThrows(IllegalArgumentException.class, () -> estimator(1)
        .setModelConfig("mini").setMaxSteps(3).setCheckpointDir(dir).setAllowChangedSettings(true).fit(data));
    assertTrue(other.getMessage().contains("holds a run at step 2 of a model with ") && other.getMessage().contains(
        "it was trained with another model config (preset)"), other.getMessage());
  }

  /** Waits up to two minutes for {@code file} to appear. */
  private static void awaitFile(Path file) {
    long deadline = System.nanoTime() + 120_000_000_000L;
    while (!Files.exists(file)) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(file + " never appeared");
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /**
   * A hook that holds every rank before step {@code step} until {@code go} exists, rank 0 creating {@code waiting} as
   * it starts to wait: a fit that stays running while the test does something else.
   */
  static StepHook holdAt(long step, Path waiting, Path go) {
    String waitingFile = waiting.toString();
    String goFile = go.toString();
    return (rank, s) -> {
      if (s == step) {
        try {
          if (rank == 0) {
            Files.createFile(Path.of(waitingFile));
          }
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
        awaitFile(Path.of(goFile));
      }
    };
  }

  /**
   * A fit holds its checkpoint location for its whole life: a second fit there, while the first runs, is refused at
   * once naming the first; the lock goes when the first ends.
   */
  @Test
  void aSecondFitOnTheSameCheckpointDirWhileTheFirstRunsIsRefusedNamingIt() throws Exception {
    Path dir = tmp.resolve("one location");
    Path waiting = tmp.resolve("first-waiting");
    Path go = tmp.resolve("first-may-go");
    java.util.concurrent.CompletableFuture<MosaicBertModel> first = java.util.concurrent.CompletableFuture.supplyAsync(
        () -> estimator(2).setMaxSteps(3).setCheckpointDir(dir.toString()).setCheckpointEvery(1).setMetricsEvery(1)
            .setStepHook(holdAt(1, waiting, go)).fit(data));
    try {
      awaitFile(waiting);
      long start = System.nanoTime();
      // The same fit again: it would resume from the first one's checkpoint and train beside it.
      String refused = assertThrows(IllegalArgumentException.class, () -> estimator(2).setMaxSteps(3)
          .setCheckpointDir(dir.toString()).setCheckpointEvery(1).setMetricsEvery(1).fit(data)).getMessage();
      assertTrue((System.nanoTime() - start) / 1e9 < 20, "refused at once, not after training");
      assertTrue(refused.startsWith("checkpointDir file:" + dir + " is in use by MosaicBertEstimator.fit on ")
          && refused.contains("(pid " + ProcessHandle.current().pid() + "), running since ")
          && refused.contains("last heartbeat"), refused);
      assertEquals(List.of(1L), HadoopCheckpointStore.readMetrics(dir.toString(),
          spark.sparkContext().hadoopConfiguration()).stream().map(StepMetrics::step).toList(),
          "the refused fit wrote nothing there");
    } finally {
      Files.createFile(go);
      first.get();
    }
    assertTrue(Files.notExists(tmp.resolve(".one location.lock")), "the lock goes with the fit");
  }

  /**
   * A run killed after writing the metrics of step 3 but before its checkpoint left a lock whose owner is gone (its
   * heartbeat a minute old): the next fit takes the lock over, resumes from the checkpoint of step 2, and the metrics
   * log holds each step once, the resumed run's line replacing the killed run's.
   */
  @Test
  void aStaleLockIsTakenOverAndTheRunResumesWritingEachStepOnce() throws Exception {
    Path dir = tmp.resolve("killed run");
    estimator(2).setMaxSteps(3).setCheckpointDir(dir.toString()).setCheckpointEvery(2).setMetricsEvery(1).fit(data);
    try (var files = Files.walk(dir.resolve("step-000000003"))) { // killed before the last checkpoint
      for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(f);
      }
    }
    Path lock = tmp.resolve(".killed run.lock");
    Files.writeString(lock, "{\"what\":\"MosaicBertEstimator.fit\",\"host\":\"another-machine\",\"pid\":4242,"
        + "\"since\":\"" + java.time.Instant.now().minusSeconds(600) + "\",\"heartbeat\":\""
        + java.time.Instant.now().minusSeconds(60) + "\",\"token\":\"killed\"}\n");
    Path steps = tmp.resolve("resumed-steps");
    String stepsFile = steps.toString();
    StepHook record = (rank, step) -> {
      if (rank == 0) {
        try {
          Files.writeString(Path.of(stepsFile), step + "\n", java.nio.file.StandardOpenOption.CREATE,
              java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }
    };
    estimator(2).setMaxSteps(3).setCheckpointDir(dir.toString()).setCheckpointEvery(2).setMetricsEvery(1)
        .setStepHook(record).fit(data);
    assertEquals(List.of("2"), Files.readAllLines(steps), "resumed from the checkpoint of step 2");
    assertEquals(List.of(1L, 2L, 3L), HadoopCheckpointStore.readMetrics(dir.toString(),
        spark.sparkContext().hadoopConfiguration()).stream().map(StepMetrics::step).toList());
    assertTrue(Files.notExists(lock), "taken over, then released");
  }

  /**
   * A resume with other settings is refused on the driver, naming each that differs and its two values; threads and
   * the checkpoint interval may change freely; with allowChangedSettings it goes on, and the change is written beside
   * the checkpoints.
   */
  @Test
  void aResumeWithOtherSettingsIsRefusedNamingEachUnlessTheChangeIsMeant() throws IOException {
    String dir = tmp.resolve("resume-settings").toString();
    estimator(1).setMaxSteps(2).setCheckpointDir(dir).setCheckpointEvery(1).fit(data);
    MosaicBertEstimator changed = estimator(1).setMaxSteps(4).setLr(1e-3).setSeed(18).setCheckpointDir(dir)
        .setCheckpointEvery(2).setThreadsPerWorker(2);
    String refused = assertThrows(IllegalArgumentException.class, () -> changed.fit(data)).getMessage();
    assertTrue(refused.contains("holds a run at step 2 trained with other settings:") && refused.contains(
        "maxSteps: 2 in the checkpoint, 4 now") && refused.contains("lr: 0.002 in the checkpoint, 0.001 now")
        && refused.contains("seed: 17 in the checkpoint, 18 now") && refused.contains("allowChangedSettings"),
        refused);
    assertTrue(!refused.contains("threadsPerWorker") && !refused.contains("checkpointEvery"), "free: " + refused);
    changed.setAllowChangedSettings(true).fit(data);
    String written = Files.readString(Path.of(dir, "settings-changed-at-step-000000002.json"));
    assertTrue(written.contains("\"lr: 0.002 in the checkpoint, 0.001 now\"") && written.contains("\"step\" : 2"),
        written);
    changed.setAllowChangedSettings(false).fit(data); // the run as it now is: nothing differs
  }

  @Test
  void aConfigWithAttentionDropoutIsRefusedForTrainingNamingTheFileAndTheKey() throws IOException {
    Path config = tmp.resolve("attention-dropout.json");
    Files.writeString(config, ModelConfig.preset("tiny", 512).toJson(List.of("BertForMaskedLM")).put(
        "attention_probs_dropout_prob", 0.1).toString());
    String message = assertThrows(IllegalArgumentException.class,
        () -> estimator(1).setModelConfig(config.toString()).fit(data)).getMessage();
    assertTrue(message.contains("modelConfig " + config + ": attention_probs_dropout_prob = 0.1") && message
        .contains("\"attention_probs_dropout_prob\": 0.0"), message);
  }
}
