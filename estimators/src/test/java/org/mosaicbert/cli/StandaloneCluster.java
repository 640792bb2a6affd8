package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.mosaicbert.cli.EncodeCommandTest.Result;

/**
 * {@code scripts/cluster.sh} driven from a test: a standalone Master and Workers of their own JVMs, submissions as
 * child processes (the process is the driver: killing it kills the driver), the executors' pids and logs. Every wait
 * has a hang guard: a wait that runs past it fails naming what it waited for; nothing asserts on time.
 *
 * <p>The script, the Spark home and the shaded jar come from system properties that the POM sets for the
 * integration tests (after {@code package}): {@code mosaicbert.repo.dir}, {@code mosaicbert.spark.line}, {@code mosaicbert.spark.home},
 * {@code mosaicbert.jar}.
 */
final class StandaloneCluster implements AutoCloseable {
  /** How long any one wait may take before it counts as a hang: minutes, for a busy 2-core machine. */
  static final Duration HANG_GUARD = Duration.ofMinutes(6);

  private final Path dir;
  private final Map<String, String> environment;

  private StandaloneCluster(Path dir, Map<String, String> environment) {
    this.dir = dir;
    this.environment = environment;
  }

  /** {@code cluster.sh start --workers N --cores C --memory M} with its logs and pids in {@code dir}. */
  static StandaloneCluster start(Path dir, int workers, int cores, String memory, int gpus) {
    Map<String, String> environment = Map.of("MOSAICBERT_CLUSTER_DIR", dir.toString(),
        "SPARK_HOME", property("mosaicbert.spark.home"), "MOSAICBERT_JAR", property("mosaicbert.jar"),
        "MOSAICBERT_SPARK", property("mosaicbert.spark.line"),
        // The drivers of the tests are small; the machine has other JVMs to hold.
        "MOSAICBERT_JAVA_OPTS", "-Xmx1g");
    StandaloneCluster cluster = new StandaloneCluster(dir, environment);
    deleteRecursively(dir.resolve("test-runs")); // the outputs of an earlier run's commands
    Result started = cluster.script("start", "--workers", Integer.toString(workers), "--cores",
        Integer.toString(cores), "--memory", memory, "--gpus", Integer.toString(gpus));
    assertEquals(0, started.code(), started.err());
    return cluster;
  }

  private static String property(String name) {
    String value = System.getProperty(name);
    if (value == null) {
      throw new IllegalStateException(name + " is not set: run the cluster tests through Maven (mvn verify), whose "
          + "estimators POM sets it");
    }
    return value;
  }

  private static Path script() {
    return Path.of(property("mosaicbert.repo.dir"), "scripts", "cluster.sh");
  }

  /** Runs {@code cluster.sh ARGS} to its end (start, executors, stop). */
  Result script(String... args) {
    Submission run = launch(null, List.of(args));
    return run.await();
  }

  /** {@code cluster.sh submit --conf ... SUBCOMMAND ...}, running: await it, kill it, read its output. */
  Submission submit(List<String> conf, String... subcommand) {
    return submitIn(null, conf, subcommand);
  }

  /** {@link #submit} from the working folder {@code workingDir} (null: this JVM's). */
  Submission submitIn(Path workingDir, List<String> conf, String... subcommand) {
    List<String> args = new ArrayList<>(List.of("submit"));
    conf.forEach(c -> args.addAll(List.of("--conf", c)));
    args.addAll(Arrays.asList(subcommand));
    return launch(workingDir, args);
  }

  /** {@code cluster.sh ARGS} (submit-app, shell), running, its standard input read from {@code input}. */
  Submission run(Path input, String... args) {
    return launch(null, List.of(args), input);
  }

  private Submission launch(Path workingDir, List<String> args) {
    return launch(workingDir, args, Path.of("/dev/null"));
  }

  private Submission launch(Path workingDir, List<String> args, Path input) {
    try {
      Path logs = Files.createDirectories(dir.resolve("test-runs"));
      Path out = Files.createTempFile(logs, args.get(0) + "-", ".out");
      Path err = Files.createTempFile(logs, args.get(0) + "-", ".err");
      List<String> command = new ArrayList<>(List.of("bash", script().toString()));
      command.addAll(args);
      ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile())
          .redirectInput(ProcessBuilder.Redirect.from(input.toFile()))
          .directory(workingDir == null ? null : workingDir.toFile());
      builder.environment().putAll(environment);
      Set<Path> before = executorLogs().collect(Collectors.toSet());
      return new Submission(String.join(" ", args), builder.start(), out, err, before);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The live executor JVMs' pids ({@code cluster.sh executors}). */
  List<Long> executors() {
    Result r = script("executors");
    assertEquals(0, r.code(), r.err());
    return r.out().lines().filter(l -> !l.isBlank()).map(l -> Long.parseLong(l.trim())).collect(Collectors.toList());
  }

  /** Every executor's stderr under the Workers' folders (worker-N/APP_ID/EXECUTOR_ID/stderr). */
  Stream<Path> executorLogs() {
    try (Stream<Path> files = Files.find(dir, 4, (p, a) -> p.getFileName().toString().equals("stderr")
        && p.toString().contains("/app-"))) {
      return files.collect(Collectors.toList()).stream();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Sends a signal to a process, as {@code kill -SIGNAL PID} in a shell does. */
  static void signal(String signal, long pid) {
    try {
      Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
      assertEquals(0, kill.waitFor(), "kill -" + signal + " " + pid);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** {@link #signal}, unless the process ended first (a race with whatever else is ending it). */
  static void signalUnlessGone(String signal, long pid) {
    try {
      signal(signal, pid);
    } catch (AssertionError e) {
      if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
        throw e;
      }
    }
  }

  /** Waits until {@code condition} holds; a wait past {@link #HANG_GUARD} fails the test as a hang. */
  static void await(String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + HANG_GUARD.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("still waiting for " + what + " after " + HANG_GUARD.toMinutes() + " minutes: a hang");
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
  }

  /** Stops what the script started and checks that none of it is left. */
  @Override
  public void close() {
    List<Long> daemons = recordedPids();
    Result stopped = script("stop");
    assertEquals(0, stopped.code(), stopped.err());
    List<Long> left = daemons.stream().filter(p -> ProcessHandle.of(p).map(ProcessHandle::isAlive).orElse(false))
        .collect(Collectors.toList());
    assertEquals(List.of(), left, "processes of the cluster still alive after stop");
  }

  private List<Long> recordedPids() {
    try {
      Path pids = dir.resolve("pids");
      return !Files.exists(pids) ? List.of() : Files.readAllLines(pids).stream()
          .map(l -> Long.parseLong(l.split(" ")[1])).collect(Collectors.toList());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A running {@code cluster.sh} command; for submit, the process is the driver. */
  final class Submission {
    private final String what;
    private final Process process;
    private final Path out;
    private final Path err;
    private final Set<Path> earlierExecutorLogs;

    private Submission(String what, Process process, Path out, Path err, Set<Path> earlierExecutorLogs) {
      this.what = what;
      this.process = process;
      this.out = out;
      this.err = err;
      this.earlierExecutorLogs = earlierExecutorLogs;
    }

    long pid() {
      return process.pid();
    }

    boolean alive() {
      return process.isAlive();
    }

    /** Its standard error so far. */
    String err() {
      return read(err);
    }

    /** Waits for the end (a hang guard kills it and fails); its exit code, standard output and error. */
    Result await() {
      try {
        if (!process.waitFor(HANG_GUARD.toSeconds(), TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor();
          fail("cluster.sh " + what + " still running after " + HANG_GUARD.toMinutes() + " minutes: a hang; its "
              + "standard error:\n" + err());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
      return new Result(process.exitValue(), read(out), err());
    }

    /** The stderr files of the executors launched since this submission started, joined. */
    String executorLogs() {
      return StandaloneCluster.this.executorLogs().filter(p -> !earlierExecutorLogs.contains(p))
          .map(StandaloneCluster::read).collect(Collectors.joining("\n"));
    }
  }

  private static void deleteRecursively(Path folder) {
    if (!Files.exists(folder)) {
      return;
    }
    try (Stream<Path> files = Files.walk(folder)) {
      for (Path p : files.sorted(java.util.Comparator.reverseOrder()).collect(Collectors.toList())) {
        Files.delete(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String read(Path file) {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
