package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.testing.SharedTestData;

/**
 * scripts/gpu-check.sh as the GPU machine meets it, on this machine: the bundle assembled from this test's class path
 * (what {@code bundle} does after asking Maven for it), {@code run} on a machine without a GPU (the preflight stops,
 * names each missing library and writes its JSON line), then {@code run --emulated} through every phase on the
 * emulated device with the bundle's own jlinked runtime.
 */
class GpuCheckScriptTest {
  private static final Path SCRIPT = Path.of("..", "scripts", "gpu-check.sh").toAbsolutePath().normalize();

  record Result(int exitCode, String output) {}

  @Test
  void theBundleFitsAndRunsEveryPhaseItCanWithoutAGpu(@TempDir Path tmp) throws Exception {
    SharedTestData.path("reference/vectors-a"); // skips without ../shared: the bundle carries the golden vectors
    assumeFalse(CudaProbe.available(), "a GPU is here: scripts/gpu-check.sh run is the check to run on it");
    String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    Path bundle = tmp.resolve("bundle");

    Result assembled = script(tmp, 300, "assemble", classPath);
    assertEquals(0, assembled.exitCode(), assembled.output());
    assertTrue(Files.isRegularFile(bundle.resolve("jre.tgz")), assembled.output());

    Result preflight = script(tmp, 60, "run");
    assertEquals(2, preflight.exitCode(), preflight.output());
    assertTrue(preflight.output().contains("MISSING libcuda.so.1"), preflight.output());
    assertFalse(preflight.output().contains("Exception"), "no stack trace: " + preflight.output());
    List<String> lines = Files.readAllLines(tmp.resolve("out/results.jsonl"));
    assertEquals(1, lines.size(), String.join("\n", lines));
    assertTrue(lines.get(0).startsWith("{\"phase\": \"preflight\", \"status\": \"fail\"")
        && lines.get(0).contains("libcuda.so.1"), lines.get(0));

    assumeTrue(EmulatedDevice.compiler() != null, "no g++: the emulated dry run needs it");
    Result dryRun = script(tmp, 600, "run", "--emulated");
    assertEquals(0, dryRun.exitCode(), dryRun.output());
    List<String> phases = Files.readAllLines(tmp.resolve("out/results.jsonl"));
    assertEquals(3, phases.size(), String.join("\n", phases));
    for (String phase : List.of("parity", "training", "benchmark")) {
      assertTrue(phases.stream().anyMatch(l -> l.startsWith("{\"phase\": \"" + phase + "\", \"status\": \"pass\"")),
          phase + " did not pass:\n" + String.join("\n", phases));
    }
    assertTrue(dryRun.output().contains("phase      status"), "the summary table: " + dryRun.output());
  }

  /** Runs the script with the bundle, runtime cache and OUT under {@code tmp}; its output, stdout and stderr. */
  private static Result script(Path tmp, int timeoutSeconds, String... args) throws IOException, InterruptedException {
    List<String> command = new java.util.ArrayList<>(List.of("bash", SCRIPT.toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("GPU_CHECK_BUNDLE", tmp.resolve("bundle").toString());
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
