package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mosaicbert.testing.WeightComparison.relativeDifference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.backend.cuda.EmulatedGpus;
import org.mosaicbert.backend.cuda.GpuDevices;
import org.mosaicbert.cli.EncodeCommandTest.Result;
import org.mosaicbert.cli.StandaloneCluster.Submission;
import org.mosaicbert.io.SafeTensors;

/**
 * The command line on a real Spark cluster: a standalone Master and two Workers of one core each, every executor
 * its own JVM launched by its Worker, submissions through SparkSubmit with the shaded jar (scripts/cluster.sh). The
 * trainer's promises are checked where a worker or the driver can die on its own: one uninterrupted run is the
 * baseline; a run that loses an executor, its driver, or a worker to a stall ends with the same bits.
 *
 * <p>Small settings keep it short: a 30-step run with checkpoints every 10 steps, a 10 s ring timeout, a 20 s
 * network (heartbeat) timeout checked every 5 s. Every wait has a hang guard; nothing asserts on time. The time each
 * part and each recovery took goes to standard error, with what the driver logged.
 */
class ClusterIT {
  /** Settings of every submission: executors that stop sending heartbeats are given up after 20 s, not 120. */
  private static final List<String> CONF = List.of("spark.network.timeout=20s",
      "spark.executor.heartbeatInterval=2s", "spark.network.timeoutInterval=5s", "spark.barrier.sync.timeout=300",
      "spark.ui.enabled=false");
  private static final int STEPS = 30;
  private static final int CHECKPOINT_EVERY = 10;

  @TempDir static Path tmp;
  private static StandaloneCluster cluster;
  private static Path shards;
  private static Path recipe;
  private static Path baseline;

  @BeforeAll
  static void startTheClusterAndTokenize() throws IOException {
    Path dir = Path.of(System.getProperty("mosaicbert.cluster.dir", tmp.resolve("cluster").toString()));
    long start = System.nanoTime();
    // A GPU each (device=gpu runs on emulated GPUs here); the CPU runs ask for none and are as without.
    cluster = StandaloneCluster.start(dir, 2, 1, "1g", 1);
    report("cluster start", start);
    recipe = tmp.resolve("recipe.yaml");
    Files.writeString(recipe, "checkpoint_every: " + CHECKPOINT_EVERY + "\nmetrics_every: 5\n"
        + "ring_timeout_seconds: 10\n");
    shards = tmp.resolve("shards");
    start = System.nanoTime();
    Result r = EncodeCommandTest.run(new byte[0], "tokenize", "--output", shards.toString());
    assertEquals(0, r.code(), r.err());
    report("tokenize (the embedded corpus, locally)", start);
  }

  @AfterAll
  static void stopTheCluster() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private static void report(String what, long startNanos) {
    System.err.printf("ClusterIT: %s took %.1f s%n", what, (System.nanoTime() - startNanos) / 1e9);
  }

  /** pretrain's flags for a run into {@code output}. */
  private static String[] pretrain(Path output, int workers) {
    return new String[] {"pretrain", "--data", shards.toString(), "--output", output.toString(), "--recipe",
        recipe.toString(), "--max-steps", Integer.toString(STEPS), "--batch", "8", "--micro-batch", "4", "--workers",
        Integer.toString(workers), "--threads", "1"};
  }

  /** The uninterrupted 2-worker run on the cluster that tests 1 to 4 compare with (run once). */
  private static synchronized Path baseline() {
    if (baseline == null) {
      Path output = tmp.resolve("baseline");
      long start = System.nanoTime();
      Result r = cluster.submit(CONF, pretrain(output, 2)).await();
      assertEquals(0, r.code(), r.err());
      assertTrue(r.out().contains(STEPS + " steps of 8 sequences, 2 worker(s)"), r.out());
      report("the uninterrupted 2-worker pretrain", start);
      baseline = output;
    }
    return baseline;
  }

  private static List<String> with(List<String> conf, String... settings) {
    List<String> all = new ArrayList<>(conf);
    all.addAll(List.of(settings));
    return all;
  }

  private static Path checkpoint(Path output, int step) {
    return Path.of(output + ".checkpoints", String.format("step-%09d", step), "DONE");
  }

  /** Waits for the checkpoint of {@code step} to be complete, while the run goes on. */
  private static void awaitCheckpoint(Submission run, Path output, int step) {
    StandaloneCluster.await("the checkpoint of step " + step, () -> Files.exists(checkpoint(output, step))
        || !run.alive());
    assertTrue(run.alive(), "the run ended before its checkpoint of step " + step + ":\n" + run.err());
  }

  private static byte[] weightBytes(Path model) {
    try {
      return Files.readAllBytes(model.resolve("model.safetensors"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static float[] weights(Path model) {
    SafeTensors file = SafeTensors.open(model.resolve("model.safetensors"));
    List<float[]> tensors = new ArrayList<>();
    new TreeMap<>(file.entries()).keySet().forEach(name -> tensors.add(file.floats(name)));
    float[] all = new float[tensors.stream().mapToInt(t -> t.length).sum()];
    int at = 0;
    for (float[] t : tensors) {
      System.arraycopy(t, 0, all, at, t.length);
      at += t.length;
    }
    return all;
  }

  private static boolean alive(long pid) {
    return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
  }

  @Test
  void twoWorkersOnTheClusterTrainWhatOneLocalWorkerTrains() {
    Path cluster = baseline();
    Path local = tmp.resolve("local");
    long start = System.nanoTime();
    Result r = EncodeCommandTest.run(new byte[0], pretrain(local, 1));
    assertEquals(0, r.code(), r.err());
    report("the local 1-worker pretrain", start);
    double difference = relativeDifference(weights(local), weights(cluster));
    assertTrue(difference < 1e-5, "2 workers on the cluster against 1 local worker: " + difference);
  }

  @Test
  void aKilledExecutorIsReplacedAndTheRetriedStageResumesToTheSameBits() throws IOException {
    byte[] expected = weightBytes(baseline());
    Path output = tmp.resolve("executor-killed");
    long start = System.nanoTime();
    Submission run = cluster.submit(CONF, pretrain(output, 2));
    awaitCheckpoint(run, output, CHECKPOINT_EVERY);
    List<Long> executors = cluster.executors();
    assertEquals(2, executors.size(), "one executor per worker: " + executors);
    long victim = executors.get(0);
    assertTrue(Files.readString(Path.of("/proc/" + victim + "/maps")).contains(
        Path.of(System.getProperty("mosaicbert.jar")).getFileName() + "/org/bytedeco/openblas"),
        "OpenBLAS is loaded inside the executor JVM, unpacked from the shaded jar that spark-submit shipped");
    StandaloneCluster.signal("KILL", victim);
    long killed = System.nanoTime();
    assertFalse(Files.exists(checkpoint(output, 2 * CHECKPOINT_EVERY)), "killed between two checkpoints");

    StandaloneCluster.await("a new executor in place of " + victim, () -> !run.alive()
        || cluster.executors().stream().filter(p -> !executors.contains(p)).count() == 1);
    report("recovery: the worker's new executor running", killed);
    StandaloneCluster.await("the retried stage to resume", () -> !run.alive()
        || run.executorLogs().contains("resuming from the checkpoint of step " + CHECKPOINT_EVERY));
    report("recovery: kill -9 to training resumed from the checkpoint", killed);
    Result r = run.await();
    report("the pretrain that lost an executor", start);
    assertEquals(0, r.code(), r.err());
    assertTrue(r.err().contains("Lost executor"), r.err());
    assertTrue(run.executorLogs().contains("resuming from the checkpoint of step " + CHECKPOINT_EVERY),
        "the retried stage resumed from the newest checkpoint");
    System.err.println("ClusterIT: the driver logged, after kill -9 of an executor:\n" + warnings(r.err()));
    assertArrayEquals(expected, weightBytes(output), "the same bits as the uninterrupted run");
  }

  @Test
  void aKilledDriverTakesItsExecutorsAlongAndTheSameCommandResumesToTheSameBits() {
    byte[] expected = weightBytes(baseline());
    Path output = tmp.resolve("driver-killed");
    long start = System.nanoTime();
    Submission first = cluster.submit(CONF, pretrain(output, 2));
    awaitCheckpoint(first, output, CHECKPOINT_EVERY);
    List<Long> executors = cluster.executors();
    assertEquals(2, executors.size(), "one executor per worker: " + executors);
    StandaloneCluster.signal("KILL", first.pid());
    long killed = System.nanoTime();
    assertEquals(137, first.await().code(), "the driver died of SIGKILL");
    StandaloneCluster.await("the dead application's executors to end", () -> executors.stream()
        .noneMatch(ClusterIT::alive));
    report("the dead driver's executors ending", killed);
    assertEquals(List.of(), cluster.executors(), "no executor lingers");
    assertFalse(Files.exists(output), "the killed run wrote no model");

    Submission again = cluster.submit(CONF, pretrain(output, 2));
    Result r = again.await();
    report("the driver-killed pretrain, both submissions", start);
    assertEquals(0, r.code(), r.err());
    assertTrue(again.executorLogs().matches("(?s).*resuming from the checkpoint of step [1-9]0\\b.*"),
        "the second submission resumed from a checkpoint");
    assertArrayEquals(expected, weightBytes(output), "the same bits as the uninterrupted run");
  }

  @Test
  void aStalledWorkerFailsTheStepNamingItIsGivenUpAndTheRerunEndsWithTheSameBits() {
    byte[] expected = weightBytes(baseline());
    Path output = tmp.resolve("stalled");
    long start = System.nanoTime();
    Submission run = cluster.submit(CONF, pretrain(output, 2));
    awaitCheckpoint(run, output, CHECKPOINT_EVERY);
    List<Long> executors = cluster.executors();
    long victim = executors.get(0);
    StandaloneCluster.signal("STOP", victim);
    long stopped = System.nanoTime();

    // The other worker waits ring_timeout_seconds for it inside the step, then fails naming it.
    StandaloneCluster.await("the surviving worker to give up on the stalled one", () -> !run.alive()
        || run.err().contains("Read timed out"));
    report("stall: kill -STOP to the surviving worker's failure", stopped);
    int stalledRank = rankOf(victim, run);
    Matcher failure = Pattern.compile("rank (\\d): allreduce failed talking to rank (\\d) \\(127\\.0\\.0\\.1:\\d+\\)"
        + "[^\\n]*Read timed out; a peer died or stopped answering").matcher(run.err());
    assertTrue(failure.find(), run.err());
    assertNotEquals(stalledRank, Integer.parseInt(failure.group(1)), "the survivor reports it");
    assertEquals(stalledRank, Integer.parseInt(failure.group(2)), "naming the stalled rank, " + stalledRank);

    // The stalled task still holds its slot, so the rerun waits until the driver, hearing no heartbeat for
    // spark.network.timeout (checked every spark.network.timeoutInterval), gives the executor up and its Worker
    // kills it (SIGTERM, which a stopped process acts on once continued; SIGKILL 10 s later) and starts another.
    StandaloneCluster.await("the driver to give the stalled executor up", () -> !run.alive()
        || run.err().contains("Executor heartbeat timed out"));
    report("stall: kill -STOP to the driver giving the executor up", stopped);
    if (alive(victim)) {
      StandaloneCluster.signalUnlessGone("CONT", victim);
    }
    StandaloneCluster.await("the stalled executor to end", () -> !alive(victim));
    StandaloneCluster.await("the rerun to resume", () -> !run.alive()
        || run.executorLogs().contains("resuming from the checkpoint of step " + CHECKPOINT_EVERY));
    report("stall: kill -STOP to training resumed on a new executor", stopped);
    assertTrue(cluster.executors().stream().anyMatch(p -> !executors.contains(p)), "a new executor");
    Result r = run.await();
    report("the stalled pretrain", start);
    assertEquals(0, r.code(), r.err());
    System.err.println("ClusterIT: the driver logged, after kill -STOP of an executor:\n" + warnings(r.err()));
    assertArrayEquals(expected, weightBytes(output), "the same bits as the uninterrupted run");
    StandaloneCluster.await("the application's executors to end", () -> cluster.executors().isEmpty());
  }

  /** The rank (barrier task partition) that the executor with this pid is running: its log's last task. */
  private static int rankOf(long executorPid, Submission run) {
    for (String log : run.executorLogs().split("Spark Executor Command: ")) {
      if (log.contains("Started daemon with process name: " + executorPid + "@")) {
        Matcher task = Pattern.compile("Running task (\\d+)\\.0 in stage").matcher(log);
        int rank = -1;
        while (task.find()) {
          rank = Integer.parseInt(task.group(1));
        }
        assertTrue(rank >= 0, "executor " + executorPid + " ran no task:\n" + log);
        return rank;
      }
    }
    throw new AssertionError("no log of executor " + executorPid);
  }

  /** The driver's WARN and ERROR lines, without stack traces. */
  private static String warnings(String err) {
    return err.lines().filter(l -> l.matches("\\d\\d:\\d\\d:\\d\\d (WARN|ERROR) .*"))
        .map(l -> l.length() > 300 ? l.substring(0, 300) + " ..." : l).collect(Collectors.joining("\n"));
  }

  // What the launcher does on a cluster: count the registered slots, resolve paths on the driver, and bring the
  // weights back without task results.

  @Test
  void moreWorkersThanTheRegisteredSlotsFailBeforeTrainingSayingHowManyThereAre() {
    Path output = tmp.resolve("too-many-workers");
    Result r = cluster.submit(with(CONF, "spark.cores.max=1",
        "spark.scheduler.maxRegisteredResourcesWaitingTime=5s"), pretrain(output, 2)).await();
    assertEquals(1, r.code(), r.err());
    assertTrue(r.err().contains("--workers 2 is more than the 1 task slots"), r.err());
    assertFalse(Files.exists(Path.of(output + ".checkpoints")), "no training started");
  }

  /**
   * An executor no Worker could launch is refused before anything is submitted, naming what is asked and offered:
   * Spark itself would wait for it forever ("Initial job has not accepted any resources"). Workers offering more
   * memory than the machine has are refused at start.
   */
  @Test
  void anExecutorNoWorkerCanLaunchIsRefusedAtOnceNamingWhatIsAskedAndOffered() {
    Result memory = cluster.submit(List.of("spark.executor.memory=2g"), "pretrain", "--output",
        tmp.resolve("never").toString()).await();
    assertEquals(2, memory.code(), memory.err());
    assertTrue(memory.err().contains("spark.executor.memory=2g is more than the 1g each Worker of this cluster "
        + "offers"), memory.err());
    Result cores = cluster.submit(List.of("spark.executor.cores=4"), "pretrain", "--output",
        tmp.resolve("never").toString()).await();
    assertTrue(cores.code() == 2 && cores.err().contains("spark.executor.cores=4 is more than the 1 core(s)"),
        cores.err());
    Result huge = cluster.script("start", "--workers", "1", "--memory", "99999999g");
    assertTrue(huge.code() != 0 && huge.err().contains("--memory 99999999g for each of 1 worker(s) is more than this "
        + "machine's"), huge.err());
    assertFalse(Files.exists(tmp.resolve("never")));
  }

  @Test
  void aRelativeOutputIsResolvedOnTheDriver() throws IOException {
    Path workingDir = Files.createDirectories(tmp.resolve("relative"));
    Result r = cluster.submitIn(workingDir, CONF, "pretrain", "--data", shards.toString(), "--output", "model",
        "--recipe", recipe.toString(), "--max-steps", "10", "--batch", "8", "--workers", "2", "--threads", "1").await();
    assertEquals(0, r.code(), r.err());
    assertTrue(Files.exists(checkpoint(workingDir.resolve("model"), CHECKPOINT_EVERY)), "the checkpoint beside "
        + "the model, in the driver's working folder");
    assertTrue(r.out().contains("loss: "), "the driver read the run's metrics: " + r.out());
  }

  @Test
  void theTrainedWeightsDoNotPassThroughTheDriversTaskResults() {
    // tiny with the default corpus's vocabulary: about 1.4 M parameters, 5.6 MB of float32, over 1 MB.
    Path output = tmp.resolve("small-results");
    Result r = cluster.submit(with(CONF, "spark.driver.maxResultSize=1m"), pretrain(output, 2)).await();
    assertEquals(0, r.code(), r.err());
    assertArrayEquals(weightBytes(baseline()), weightBytes(output));
  }

  /** A labelled table without shared data: sentences whose label is whether the committee approved. */
  private static Path labelledCsv() throws IOException {
    Path csv = tmp.resolve("motions.csv");
    if (!Files.exists(csv)) {
      String[] who = {"the committee", "the parliament", "the council", "the commission"};
      String[] what = {"the report", "the motion", "the budget", "the amendment"};
      List<String> rows = new ArrayList<>(List.of("text,label"));
      for (int i = 0; i < 64; i++) {
        boolean approved = i % 2 == 0;
        rows.add(who[i % 4] + (approved ? " approved " : " rejected ") + what[(i / 4) % 4] + " on day " + i + ","
            + (approved ? 1 : 0));
      }
      Files.write(csv, rows);
    }
    return csv;
  }

  @Test
  void finetuneOnTheClusterTrainsAClassifierWhosePredictionsMatchLocalMode() throws IOException {
    Path csv = labelledCsv();
    Path classifier = tmp.resolve("classifier");
    long start = System.nanoTime();
    Result tuned = cluster.submit(CONF, "finetune", "--model", baseline().toString(), "--train", csv.toString(),
        "--eval", csv.toString(), "--output", classifier.toString(), "--max-steps", "4", "--batch", "8",
        "--max-seq-len", "32", "--workers", "2", "--threads", "1", "--lr", "1e-3").await();
    report("finetune on the cluster", start);
    assertEquals(0, tuned.code(), tuned.err());
    assertTrue(tuned.out().contains("model: " + classifier + " (classification, 64 rows, 4 steps)"), tuned.out());
    assertTrue(Files.exists(classifier.resolve("model.safetensors")));

    start = System.nanoTime();
    Path onCluster = tmp.resolve("predictions-cluster");
    Result predicted = cluster.submit(CONF, "predict", "--model", classifier.toString(), "--input", csv.toString(),
        "--output", onCluster.toString(), "--format", "json").await();
    report("predict on the cluster", start);
    assertEquals(0, predicted.code(), predicted.err());
    Path local = tmp.resolve("predictions-local");
    Result locally = EncodeCommandTest.run(new byte[0], "predict", "--model", classifier.toString(), "--input",
        csv.toString(), "--output", local.toString(), "--format", "json");
    assertEquals(0, locally.code(), locally.err());
    Map<String, JsonNode> expected = predictions(local);
    assertEquals(64, expected.size());
    assertEquals(expected, predictions(onCluster), "the same predictions and probabilities as in local mode");
  }

  /**
   * device=gpu on the cluster as on a GPU cluster: each Worker offers a GPU found by its discovery script
   * ({@code cluster.sh start --gpus 1}), each executor asks for one, the training stage asks for one a task (stage-level
   * scheduling, with no GPU setting for the application's other tasks) and each barrier task takes its GPU through
   * {@code TaskContext.resources()}; the devices are the tests' emulated ones (the kernel files run on the CPU, the
   * gradients go over the TCP ring), named by spark.mosaicbert.gpuDevices and shipped in the engine's test jar.
   */
  @Test
  void twoGpuWorkersTrainOnTheClusterEachOnTheGpuSparkGaveIt() throws IOException {
    Assumptions.assumeTrue(new EmulatedGpus().probe().available(), "no g++: the emulated GPUs cannot be built");
    Path output = tmp.resolve("gpu");
    String[] flags = pretrain(output, 2);
    flags[java.util.Arrays.asList(flags).indexOf("--max-steps") + 1] = "4";
    List<String> withDevice = new ArrayList<>(List.of(flags));
    withDevice.addAll(List.of("--device", "gpu"));
    long start = System.nanoTime();
    // No spark.task.resource.gpu.amount: the training stage asks for a GPU a task through its resource profile.
    Submission run = cluster.submit(with(CONF, "spark.executor.resource.gpu.amount=1",
        GpuDevices.SPARK_CONF + "=" + EmulatedGpus.class.getName(),
        "spark.jars=" + testJarOf(EmulatedGpus.class),
        // The emulated device's build (g++, keyed by its sources) where this module's tests keep it: built once.
        "spark.executor.extraJavaOptions=-Dmosaicbert.emulator.dir=" + Path.of("target").toAbsolutePath()),
        withDevice.toArray(String[]::new));
    Result r = run.await();
    report("the 2-worker device=gpu pretrain (emulated GPUs)", start);
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("4 steps of 8 sequences, 2 worker(s)"), r.out());
    String logs = run.executorLogs();
    // Ranks meet executors in no fixed order: what matters is that each took its own executor's GPU.
    Matcher opened = Pattern.compile("worker ([01]): CUDA device ([01])").matcher(logs);
    Map<String, String> deviceOfWorker = new TreeMap<>();
    while (opened.find()) {
      deviceOfWorker.put(opened.group(1), opened.group(2));
    }
    assertEquals(Set.of("0", "1"), Set.copyOf(deviceOfWorker.values()),
        "each worker on the GPU its Worker's discovery script offered (" + deviceOfWorker + "): " + logs);
  }

  /** The jar holding {@code type}, or, when the build gives a folder of classes, that folder as a jar. */
  private static String testJarOf(Class<?> type) throws IOException {
    Path location;
    try {
      location = Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
    if (Files.isRegularFile(location)) {
      return location.toString();
    }
    Path jar = tmp.resolve("engine-tests.jar");
    try (var out = new java.util.jar.JarOutputStream(Files.newOutputStream(jar));
        Stream<Path> files = Files.walk(location)) {
      for (Path file : files.filter(Files::isRegularFile).sorted().toList()) {
        out.putNextEntry(new java.util.jar.JarEntry(location.relativize(file).toString().replace('\\', '/')));
        Files.copy(file, out);
        out.closeEntry();
      }
    }
    return jar.toString();
  }

  /**
   * Spark's Scala shell on the cluster ({@code cluster.sh shell}): a note's paragraphs, then the lines on standard
   * input, with this project's classes compiled by the shell and run by the executors.
   */
  @Test
  void theShellRunsANotesParagraphsAndItsInputOnTheCluster() throws IOException {
    try (Stream<Path> jars = Files.list(Path.of(System.getProperty("mosaicbert.spark.home"), "jars"))) {
      Assumptions.assumeTrue(jars.anyMatch(jar -> jar.getFileName().toString().startsWith("spark-repl_")),
          "the Spark home has no spark-repl jar (Spark's shell), as the Spark 4 home assembled from this machine's "
              + "Maven mirror, which does not serve spark-repl_2.13: cluster.sh shell needs a full Spark distribution");
    }
    ObjectMapper json = new ObjectMapper();
    var note = json.createObjectNode().put("name", "words");
    var paragraphs = note.putArray("paragraphs");
    paragraphs.addObject().put("text", "%md\n# Words, normalized on the executors");
    // A statement continued on the next line: the paragraph compiles whole, as in Zeppelin.
    paragraphs.addObject().put("text", "%spark\nval words = spark.createDataset(Seq(\"Héllo\", \"Wörld\"))\n"
        + "  .map(t => org.mosaicbert.tokenizer.BertNormalizer.uncased().normalize(t))\n"
        + "words.createOrReplaceTempView(\"words\")");
    paragraphs.addObject().put("text", "%spark\nval broken: Int = \"not a number\"");
    paragraphs.addObject().put("text", "%sql\nSELECT concat('word:', value) AS w FROM words ORDER BY w");
    Path notebook = tmp.resolve("words.zpln");
    json.writeValue(notebook.toFile(), note);
    Path input = Files.writeString(tmp.resolve("shell-input.scala"), "val joined = sc.parallelize(Seq(\"Ça VA\", "
        + "\"Naïve\"), 2).map(t => org.mosaicbert.tokenizer.BertNormalizer.uncased().normalize(t)).collect"
        + ".mkString(\"|\")\n");
    List<String> args = new ArrayList<>(List.of("shell"));
    CONF.forEach(c -> args.addAll(List.of("--conf", c)));
    args.addAll(List.of("--notebook", notebook.toString()));
    long start = System.nanoTime();
    Result r = cluster.run(input, args.toArray(String[]::new)).await();
    report("the shell with a note and a line of input", start);
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("---- note 'words', paragraph 4 (%sql)"), r.out());
    assertTrue(r.out().contains("|word:hello|") && r.out().contains("|word:world|"), r.out());
    assertTrue(r.out().contains("joined: String = ca va|naive"), r.out());
    // A paragraph that does not compile says so, and the next one runs.
    assertEquals(1, Pattern.compile("error:").matcher(r.out()).results().count(), r.out());
    assertTrue(r.out().contains("type mismatch"), r.out());
  }

  /**
   * A user's own application on the cluster ({@code cluster.sh submit-app}): compiled against the shaded jar and
   * Spark, as a user's project compiles against the artifact, its closures and this project's classes run by the
   * executors.
   */
  @Test
  void aUsersApplicationJarRunsOnTheClusterWithTheProjectOnItsClassPath() throws IOException {
    Path sources = Files.createDirectories(tmp.resolve("app-src/com/example"));
    Files.writeString(sources.resolve("Normalize.java"), """
        package com.example;

        import java.util.List;
        import org.apache.spark.api.java.JavaSparkContext;
        import org.apache.spark.sql.SparkSession;
        import org.mosaicbert.tokenizer.BertNormalizer;

        public class Normalize {
          public static void main(String[] args) {
            SparkSession spark = SparkSession.builder().getOrCreate();
            List<String> normalized = JavaSparkContext.fromSparkContext(spark.sparkContext())
                .parallelize(List.of(args), 2).map(t -> BertNormalizer.uncased().normalize(t)).collect();
            System.out.println("normalized: " + String.join("|", normalized));
            spark.stop();
          }
        }
        """);
    Path classes = Files.createDirectories(tmp.resolve("app-classes"));
    List<String> classPath = new ArrayList<>(List.of(System.getProperty("mosaicbert.jar")));
    try (Stream<Path> jars = Files.list(Path.of(System.getProperty("mosaicbert.spark.home"), "jars"))) {
      jars.map(Path::toString).forEach(classPath::add);
    }
    int compiled = javax.tools.ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", classes.toString(),
        "-classpath", String.join(java.io.File.pathSeparator, classPath),
        sources.resolve("Normalize.java").toString());
    assertEquals(0, compiled, "the example application compiles against the shaded jar and Spark");
    Path app = tmp.resolve("normalize-app.jar");
    try (var jar = new java.util.jar.JarOutputStream(Files.newOutputStream(app));
        Stream<Path> files = Files.walk(classes)) {
      for (Path file : files.filter(Files::isRegularFile).toList()) {
        jar.putNextEntry(new java.util.jar.JarEntry(classes.relativize(file).toString().replace('\\', '/')));
        jar.write(Files.readAllBytes(file));
        jar.closeEntry();
      }
    }
    List<String> args = new ArrayList<>(List.of("submit-app"));
    CONF.forEach(c -> args.addAll(List.of("--conf", c)));
    args.addAll(List.of("--class", "com.example.Normalize", app.toString(), "Héllo Wörld", "Ça VA"));
    long start = System.nanoTime();
    Result r = cluster.run(Path.of("/dev/null"), args.toArray(String[]::new)).await();
    report("submit-app", start);
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("normalized: hello world|ca va"), r.out());
  }

  /** Spark's JSON output folder as text -> row. */
  private static Map<String, JsonNode> predictions(Path folder) throws IOException {
    ObjectMapper json = new ObjectMapper();
    Map<String, JsonNode> rows = new TreeMap<>();
    try (Stream<Path> parts = Files.list(folder)) {
      for (Path part : parts.filter(p -> p.getFileName().toString().startsWith("part-")).collect(Collectors.toList())) {
        for (String line : Files.readAllLines(part)) {
          JsonNode row = json.readTree(line);
          rows.put(row.path("text").asText(), row);
        }
      }
    }
    return rows;
  }
}
