package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.cli.EncodeCommandTest.Result;

/**
 * Ctrl-C during training, as a user does it: {@code mosaicbert pretrain} in its own JVM, sent SIGINT once it has
 * written a checkpoint. It ends cleanly, says where the last checkpoint is and exits 130; the same command resumes.
 * Where this JVM ignores SIGINT (and so would the run), SIGTERM is sent and the exit status is 143.
 */
class InterruptionTest {
  @TempDir Path tmp;

  /** {@code mosaicbert ARGS} in a JVM of its own, with this test JVM's class path and module flags. */
  private static Process mosaicbert(Path stdout, Path stderr, String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
        .toString()));
    ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("--add-opens") || a.startsWith("--add-exports") || a.startsWith("-XX:+Ignore"))
        .forEach(command::add);
    command.addAll(List.of("-Xmx1g", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
    command.addAll(List.of(args));
    return new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
  }

  private static boolean hasCheckpoint(Path checkpoints) throws Exception {
    if (!Files.isDirectory(checkpoints)) {
      return false;
    }
    try (Stream<Path> folders = Files.list(checkpoints)) {
      return folders.anyMatch(f -> f.getFileName().toString().startsWith("step-") && Files.exists(f.resolve("DONE")));
    }
  }

  /** The threads of a process that would not end, from jstack beside this JVM's java (when the JDK has it). */
  private static String threadDump(Process process) {
    try {
      Path jstack = Path.of(System.getProperty("java.home"), "bin", "jstack");
      Process dump = new ProcessBuilder(jstack.toString(), Long.toString(process.pid())).redirectErrorStream(true)
          .start();
      String threads = new String(dump.getInputStream().readAllBytes());
      dump.waitFor(30, TimeUnit.SECONDS);
      return threads;
    } catch (Exception e) {
      return "(no thread dump: " + e + ")";
    }
  }

  private static String tail(Path file) {
    try {
      List<String> lines = Files.readAllLines(file);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
    } catch (Exception e) {
      return "(unreadable: " + e + ")";
    }
  }

  /**
   * Whether this JVM ignores SIGINT, as a process started in the background by a shell without job control (or by
   * nohup) does: its children inherit that, so the run would never see Ctrl-C.
   */
  private static boolean sigintIgnored() throws Exception {
    Path status = Path.of("/proc/self/status");
    if (!Files.exists(status)) {
      return false;
    }
    return Files.readAllLines(status).stream().filter(l -> l.startsWith("SigIgn:"))
        .anyMatch(l -> (Long.parseLong(l.substring("SigIgn:".length()).strip(), 16) & (1L << (2 - 1))) != 0);
  }

  @Test
  void ctrlCDuringTrainingEndsTheRunCleanlySayingWhereTheLastCheckpointIsAndTheRerunResumes() throws Exception {
    // SIGTERM takes the same way out (exit 143) where SIGINT cannot reach the run.
    String signal = sigintIgnored() ? "TERM" : "INT";
    Path recipe = tmp.resolve("long.yaml");
    Files.writeString(recipe, "model:\n  preset: tiny\nmax_duration: 5000ba\nglobal_train_batch_size: 4\n"
        + "device_train_microbatch_size: 4\nmax_seq_len: 64\ncheckpoint_every: 2\n");
    Path output = tmp.resolve("model");
    Path checkpoints = tmp.resolve("model.checkpoints");
    Path stderr = tmp.resolve("stderr.txt");
    Process run = mosaicbert(tmp.resolve("stdout.txt"), stderr, "pretrain", "--output", output.toString(),
        "--recipe", recipe.toString(), "--workers", "1");
    try {
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(4);
      while (!hasCheckpoint(checkpoints) && run.isAlive() && System.nanoTime() < deadline) {
        Thread.sleep(200);
      }
      assertTrue(run.isAlive() && hasCheckpoint(checkpoints), "training with a checkpoint: " + Files.readString(
          stderr));
      assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(run.pid())).start().waitFor());
      assertTrue(run.waitFor(2, TimeUnit.MINUTES), () -> "the run ended: it did not, 2 minutes after SIG" + signal
          + "; its threads:\n" + threadDump(run) + "\nits standard error:\n" + tail(stderr));
    } finally {
      run.destroyForcibly();
    }
    String err = Files.readString(stderr);
    assertEquals(signal.equals("INT") ? 130 : 143, run.exitValue(), err);
    List<String> stopped = err.lines().filter(l -> l.startsWith("mosaicbert pretrain: stopped before it finished"))
        .toList();
    assertEquals(1, stopped.size(), err);
    assertTrue(stopped.get(0).matches("mosaicbert pretrain: stopped before it finished; the last checkpoint is "
        + Pattern.quote(checkpoints + File.separator + "step-") + "0+(\\d+) \\(step \\1 of 5000\\): the same "
        + "command resumes from it"), stopped.get(0));
    assertTrue(err.lines().noneMatch(l -> l.startsWith("\tat ") || l.contains("failed:")),
        "no stack trace, no failure: " + err);
    try (Stream<Path> files = Files.list(tmp)) {
      assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".lock")), "the locks are released");
    }

    // The same run again (told to stop a few steps later) resumes from that checkpoint: the newest, which is that
    // one or, as the training threads of a local run may write one more while the JVM ends, a later one.
    long step = Long.parseLong(stopped.get(0).replaceAll(".*\\(step (\\d+) of.*", "$1"));
    Result again = EncodeCommandTest.run(new byte[0], "pretrain", "--output", output.toString(), "--recipe",
        recipe.toString(), "--workers", "1", "--max-steps", Long.toString(step + 20), "--allow-changed-settings");
    assertEquals(0, again.code(), again.err());
    java.util.regex.Matcher resumed = Pattern.compile("resumed from the checkpoint of step (\\d+)").matcher(
        again.out());
    assertTrue(resumed.find() && Long.parseLong(resumed.group(1)) >= step, again.out());
  }
}
