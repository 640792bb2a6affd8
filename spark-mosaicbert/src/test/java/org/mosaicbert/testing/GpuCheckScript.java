package org.mosaicbert.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * scripts/gpu-check.sh run as the tests run it: its bundles, caches and OUT under a test's folder, the emulated
 * device's server where the module's tests build it, this JVM's Java for jlink.
 */
public final class GpuCheckScript {
  /** How a run ended: its exit code and everything it printed, standard output and error together. */
  public record Result(int exitCode, String output) {}

  private GpuCheckScript() {}

  /** The run passed: exit 0, and OUT/results.jsonl holds exactly these phases, each passed. */
  public static void assertPassed(Result run, Path tmp, String... phases) throws IOException {
    assertEquals(0, run.exitCode(), run.output());
    List<String> lines = Files.readAllLines(tmp.resolve("out/results.jsonl"));
    assertEquals(phases.length, lines.size(), String.join("\n", lines));
    for (String phase : phases) {
      assertTrue(lines.stream().anyMatch(l -> l.startsWith("{\"phase\": \"" + phase + "\", \"status\": \"pass\"")),
          phase + " did not pass:\n" + String.join("\n", lines));
    }
  }

  /**
   * Runs {@code scripts/gpu-check.sh ARGS} (the repository root is {@code levels} folders above the working folder)
   * with GPU_CHECK_BUNDLE and GPU_CHECK_SPARK_BUNDLE at {@code tmp/bundle}, TMPDIR at {@code tmp} and OUT at
   * {@code tmp/out}; a run past {@code timeoutSeconds} is killed with its children and fails the test.
   */
  public static Result run(int levels, Path tmp, int timeoutSeconds, String... args)
      throws IOException, InterruptedException {
    Path root = Path.of("").toAbsolutePath();
    for (int i = 0; i < levels; i++) {
      root = root.getParent();
    }
    List<String> command = new ArrayList<>(List.of("bash", root.resolve("scripts/gpu-check.sh").toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("GPU_CHECK_BUNDLE", tmp.resolve("bundle").toString());
    builder.environment().put("GPU_CHECK_SPARK_BUNDLE", tmp.resolve("bundle").toString());
    builder.environment().put("TMPDIR", tmp.toString());
    builder.environment().put("OUT", tmp.resolve("out").toString());
    builder.environment().put("JAVA_HOME", System.getProperty("java.home"));
    // The emulated device's server where this module's tests build it (keyed by its sources): built once.
    builder.environment().put("GPU_CHECK_EMULATOR_DIR", Path.of("target").toAbsolutePath().toString());
    Path log = tmp.resolve("script.log");
    Process process = builder.redirectOutput(log.toFile()).start();
    if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
      throw new AssertionError("gpu-check.sh " + String.join(" ", args) + " still running after " + timeoutSeconds
          + " s:\n" + Files.readString(log, StandardCharsets.UTF_8));
    }
    return new Result(process.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
  }
}
