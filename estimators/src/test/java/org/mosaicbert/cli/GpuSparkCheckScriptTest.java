package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.backend.cuda.CudaProbe;
import org.mosaicbert.backend.cuda.EmulatedGpus;
import org.mosaicbert.testing.SharedTestData;

/**
 * The Spark half of scripts/gpu-check.sh as the GPU machine meets it, on this machine: the parts assembled from this
 * test's class path (what {@code spark-bundle} does after asking Maven for it, measuring the class path with an
 * emulated run), a missing part named, then {@code spark-run --emulated} through its phases from the parts alone,
 * with their own jlinked runtime: the trimmed class path and runtime run the command line's fit, fine-tuning and
 * scoring in Spark local mode.
 */
class GpuSparkCheckScriptTest {
  private static final Path SCRIPT = Path.of("..", "..", "scripts", "gpu-check.sh").toAbsolutePath().normalize();

  record Result(int exitCode, String output) {}

  @Test
  void thePartsEachFitACallAndRunTheSparkPhasesWithoutAGpu(@TempDir Path tmp) throws Exception {
    SharedTestData.path("data/glue/SST-2/train.tsv"); // skips without ../shared: the bundle carries SST-2 rows
    assumeFalse(CudaProbe.available(), "a GPU is here: scripts/gpu-check.sh spark-run is the check to run on it");
    assumeTrue(new EmulatedGpus().probe().available(), "no g++: the emulated dry run needs it");
    String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    Path bundle = tmp.resolve("bundle");

    Result assembled = script(tmp, 600, "spark-assemble", classPath);
    assertEquals(0, assembled.exitCode(), assembled.output());
    List<Path> parts = new ArrayList<>();
    try (var listing = Files.list(bundle)) {
      listing.filter(p -> p.getFileName().toString().startsWith("part-")).sorted().forEach(parts::add);
    }
    assertTrue(parts.size() >= 2, "Spark's jars take more than one call: " + assembled.output());
    for (Path part : parts) {
      try (var files = Files.walk(part)) {
        long bytes = files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        assertTrue(bytes < 64L << 20, part + " holds " + bytes + " bytes, over one call's 64 MiB");
      }
    }

    Path second = parts.get(1);
    Path away = tmp.resolve("away");
    Files.move(second, away);
    Result missing = script(tmp, 60, "spark-run", "--emulated");
    assertEquals(2, missing.exitCode(), missing.output());
    assertTrue(missing.output().contains("part-2 missing or incomplete"), missing.output());
    Files.move(away, second);

    Result dryRun = script(tmp, 600, "spark-run", "--emulated");
    assertEquals(0, dryRun.exitCode(), dryRun.output());
    List<String> phases = Files.readAllLines(tmp.resolve("out/results.jsonl"));
    assertEquals(3, phases.size(), String.join("\n", phases));
    for (String phase : List.of("fit-tiny", "glue", "bench")) {
      assertTrue(phases.stream().anyMatch(l -> l.startsWith("{\"phase\": \"" + phase + "\", \"status\": \"pass\"")),
          phase + " did not pass:\n" + String.join("\n", phases));
    }
  }

  /** Runs the script with the parts, caches and OUT under {@code tmp}; its output, stdout and stderr. */
  private static Result script(Path tmp, int timeoutSeconds, String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("bash", SCRIPT.toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("GPU_CHECK_SPARK_BUNDLE", tmp.resolve("bundle").toString());
    builder.environment().put("TMPDIR", tmp.toString());
    builder.environment().put("OUT", tmp.resolve("out").toString());
    builder.environment().put("JAVA_HOME", System.getProperty("java.home"));
    // The emulated device's server where this module's tests build it (EmulatedGpuTest): built once.
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
