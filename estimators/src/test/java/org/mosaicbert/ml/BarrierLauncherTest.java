package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.testing.FullDiskFileSystem;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.tokenizer.Vocabulary;
import org.mosaicbert.train.Sample;
import org.mosaicbert.train.LocalCheckpointStore;
import org.mosaicbert.train.SampleStream;
import org.mosaicbert.train.StepHook;
import org.mosaicbert.train.TrainingDiverged;
import scala.Tuple2;

/**
 * What the launcher does around training, in Spark local mode with 2 slots: how the trained weights reach the driver
 * (spark.driver.maxResultSize is set far below the model's size here, so they cannot come as a task result), the
 * slots it counts, and the paths the tasks are given.
 */
class BarrierLauncherTest {
  /** The driver's limit on a job's task results here: a tenth of the tiny model's float32 weights. */
  private static final long MAX_RESULT_BYTES = 192 << 10;

  private static SparkSession spark;
  private static TokenIdsFixture fixture;

  @TempDir static Path tmp;

  @BeforeAll
  static void setUp() throws IOException {
    spark = SparkSession.builder().master("local[2]").appName("launcher-test")
        .config("spark.ui.enabled", "false").config("spark.barrier.sync.timeout", "60")
        .config("spark.driver.maxResultSize", Long.toString(MAX_RESULT_BYTES))
        // More than the 2 slots: what the slot check must not count. And Spark's own check, should a stage of too
        // many tasks reach it, fails at once instead of retrying for minutes.
        .config("spark.default.parallelism", "8")
        .config("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures", "1")
        .config("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "1s")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2").getOrCreate();
    fixture = TokenIdsFixture.of(spark, tmp, 48);
    spark.sparkContext().hadoopConfiguration().set("fs.fulldisk.impl", FullDiskFileSystem.class.getName());
    spark.sparkContext().hadoopConfiguration().setBoolean("fs.fulldisk.impl.disable.cache", true);
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  private static MosaicBertEstimator estimator() {
    return new MosaicBertEstimator().setVocab(fixture.vocabFile().toString()).setModelConfig("tiny")
        .setNumWorkers(2).setGlobalBatchSize(8).setMicroBatchSize(4).setMaxSteps(3).setRingTimeoutSeconds(20);
  }

  private static Dataset<Row> data() {
    return fixture.data();
  }

  @Test
  void theTrainedWeightsReachTheDriverThoughTheyAreFarAboveMaxResultSize() {
    long modelBytes = 4 * new ParameterLayout(ModelConfig.preset("tiny", 512), ParameterLayout.Heads.MLM).size();
    assertTrue(modelBytes > 8 * MAX_RESULT_BYTES, "the model's " + modelBytes + " bytes");
    float[] inPieces = estimator().fit(data()).folder().parameters();
    float[] throughCheckpoints = estimator().setCheckpointDir(tmp.resolve("checkpoints").toString()).fit(data())
        .folder().parameters();
    assertEquals(modelBytes / 4, inPieces.length);
    assertArrayEquals(inPieces, throughCheckpoints, "the same run, whichever way its weights came");
    assertTrue(Files.notExists(tmp.resolve("checkpoints").resolve(CheckpointLocation.MARKER)),
        "the driver's marker goes when the fit is over");
    assertTrue(Files.notExists(tmp.resolve(".checkpoints.lock")), "and so does the fit's lock");
  }

  @Test
  void relativePathsAreResolvedOnTheDriverBeforeTheTasksSeeThem() {
    MosaicBertEstimator estimator = estimator().setCheckpointDir("relative/checkpoints").setInitModel("relative/model");
    TrainingData data = new TrainingData(SampleStream.inMemory(List.of(new Sample(0, new int[] {2, 5, 3})), 1), 3,
        null);
    LaunchPlan plan = estimator.launchPlan(TrainingObjective.MLM, ModelConfig.preset("tiny", 512),
        Vocabulary.readVocabTxt(fixture.vocabFile()), data, DevicePlacement.CPU,
        spark.sparkContext().hadoopConfiguration());
    Path driverFolder = Path.of(System.getProperty("user.dir"));
    assertEquals(driverFolder.resolve("relative/checkpoints"), Path.of(URI.create(plan.checkpointDir())));
    assertEquals(driverFolder.resolve("relative/model"),
        Path.of(URI.create(((InitModelWeights) plan.initial()).folder())));
  }

  @Test
  void aCheckpointLocationAWorkerCannotSeeFailsNamingIt() throws IOException {
    String path = tmp.resolve("shared by all?").toString();
    CheckpointLocation location = CheckpointLocation.mark(path, spark.sparkContext().hadoopConfiguration());
    location.checkSeenBy(1, "host-b"); // seen: the driver's own disk, in local mode
    CheckpointLocation otherFit = new CheckpointLocation(path, "another token", location.conf());
    String stale = assertThrows(IllegalStateException.class, () -> otherFit.checkSeenBy(1, "host-b")).getMessage();
    assertTrue(stale.contains("holds another fit's marker"), stale);
    // A worker whose "same" path is a folder of its own disk finds no marker there.
    Files.delete(tmp.resolve("shared by all?").resolve(CheckpointLocation.MARKER));
    String missing = assertThrows(IllegalStateException.class, () -> location.checkSeenBy(1, "host-b"))
        .getMessage();
    assertTrue(missing.startsWith("worker 1 on host-b cannot see the checkpoint location " + path
        + ": the marker the driver wrote there (" + CheckpointLocation.MARKER + ") is missing"), missing);
    assertTrue(missing.contains("set checkpointDir to such a place"), missing);
  }

  @Test
  void moreWorkersThanTaskSlotsFailBeforeAnyTrainingSayingHowManySlotsThereAre() {
    assertEquals(2, ClusterSlots.slots(spark.sparkContext()), "local[2], whatever the default parallelism says");
    String message = assertThrows(IllegalArgumentException.class,
        () -> estimator().setNumWorkers(4).setCheckpointDir(tmp.resolve("never").toString()).fit(data()))
        .getMessage();
    assertTrue(message.startsWith("numWorkers 4 is more than the 2 task slots of this cluster (local[2]"), message);
    assertTrue(Files.notExists(tmp.resolve("never")), "nothing trained, nothing written");
  }

  /**
   * A learning rate far too large: the fit stops at the first step that is not finite, naming it, once (every rank
   * stops there, so Spark must not rerun the stage into the same step), keeping the checkpoints before it.
   */
  /** A hook that appends a line to {@code starts} each time rank 0 starts training from step 0. */
  private static StepHook countingStarts(Path starts) {
    String file = starts.toString();
    return (rank, step) -> {
      if (rank == 0 && step == 0) {
        try {
          Files.writeString(Path.of(file), "started\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }
    };
  }

  @Test
  void aDivergingFitStopsAtItsFirstNonFiniteStepOnceKeepingTheCheckpointsBeforeIt() throws IOException {
    Path checkpoints = tmp.resolve("diverging");
    String starts = tmp.resolve("stage-starts").toString();
    StepHook countStarts = countingStarts(Path.of(starts));
    TrainingDiverged stop = assertThrows(TrainingDiverged.class, () -> estimator().setLr(1e30).setMaxSteps(8)
        .setCheckpointDir(checkpoints.toString()).setCheckpointEvery(1).setStepHook(countStarts).fit(data()));
    long step = stop.step();
    assertTrue(stop.getMessage().startsWith("step " + step + " of 8: the loss is NaN"), stop.getMessage());
    assertEquals(1, Files.readAllLines(Path.of(starts)).size(), "the stage ran once");
    assertTrue(step > 1 && Files.exists(checkpoints.resolve(LocalCheckpointStore.stepFolder(step - 1))
        .resolve("DONE")), "the last good checkpoint stays");
    assertTrue(Files.notExists(checkpoints.resolve(LocalCheckpointStore.stepFolder(step))));
    assertTrue(Files.notExists(tmp.resolve(".diverging.lock")), "a failed fit releases its lock too");
  }

  /**
   * A checkpoint location whose disk fills up: the fit stops at once, naming the checkpoint it could not write and
   * why (a rerun of the stage would fail the same way, so there is none), and leaves no temporary file behind.
   */
  @Test
  void aFullDiskAtACheckpointStopsTheFitOnceNamingWhatCouldNotBeWritten() throws IOException {
    Path checkpoints = tmp.resolve("full disk");
    Path starts = tmp.resolve("full-disk-starts");
    RuntimeException stop = assertThrows(RuntimeException.class, () -> estimator().setMaxSteps(6)
        .setCheckpointDir("fulldisk:" + checkpoints).setCheckpointEvery(2).setMetricsEvery(1)
        .setStepHook(countingStarts(starts)).fit(data()));
    String message = stop.getMessage();
    assertTrue(message.contains("cannot write fulldisk:" + checkpoints.resolve(LocalCheckpointStore.stepFolder(2))
        + ": No space left on device"), message);
    assertTrue(message.startsWith("step 2: "), message);
    assertEquals(1, Files.readAllLines(starts).size(), "the stage ran once");
    try (var names = Files.list(checkpoints)) {
      List<String> left = names.map(p -> p.getFileName().toString()).sorted().toList();
      assertTrue(left.stream().noneMatch(n -> n.endsWith(".tmp") || n.startsWith("step-")),
          "no temporary file, no half-written checkpoint: " + left);
    }
    assertEquals(List.of(1L, 2L), HadoopCheckpointStore.readMetrics(checkpoints.toString(),
        spark.sparkContext().hadoopConfiguration()).stream().map(m -> m.step()).toList());
    assertTrue(Files.notExists(tmp.resolve(".full disk.lock")));
  }

  @Test
  void weightsCutIntoPiecesComeBackWholeInAnyOrder() {
    float[] weights = new float[2500];
    for (int i = 0; i < weights.length; i++) {
      weights[i] = i * 0.5f;
    }
    List<Tuple2<Integer, FinalWeights.Output>> pieces = new ArrayList<>();
    FinalWeights.pieces(weights, 1024).forEachRemaining(pieces::add);
    assertEquals(3, pieces.size(), "1024 + 1024 + 452");
    Collections.reverse(pieces);
    assertArrayEquals(weights, FinalWeights.receive(pieces.iterator(), weights.length, 1024));
    Iterator<Tuple2<Integer, FinalWeights.Output>> missing = pieces.subList(1, 3).iterator();
    String message = assertThrows(IllegalStateException.class,
        () -> FinalWeights.receive(missing, weights.length, 1024)).getMessage();
    assertTrue(message.contains("piece 2 of the trained weights never reached the driver"), message);
  }

  @Test
  void aPieceIsAQuarterOfTheResultLimitWithinBounds() {
    assertEquals(MAX_RESULT_BYTES / 16, FinalWeights.pieceFloats(spark.sparkContext().getConf()));
    assertEquals(FinalWeights.MAX_PIECE_FLOATS,
        FinalWeights.pieceFloats(new org.apache.spark.SparkConf(false).set("spark.driver.maxResultSize", "0")),
        "no limit");
    assertEquals(FinalWeights.MAX_PIECE_FLOATS, FinalWeights.pieceFloats(new org.apache.spark.SparkConf(false)),
        "Spark's default, 1 GiB, allows the largest piece");
  }
}
