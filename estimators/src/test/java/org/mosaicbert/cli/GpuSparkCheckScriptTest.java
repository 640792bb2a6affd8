package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.backend.cuda.CudaProbe;
import org.mosaicbert.backend.cuda.EmulatedGpus;
import org.mosaicbert.testing.GpuCheckScript;
import org.mosaicbert.testing.GpuCheckScript.Result;
import org.mosaicbert.testing.SharedTestData;

/**
 * The Spark half of scripts/gpu-check.sh as the GPU machine meets it, on this machine: the parts assembled from this
 * test's class path (what {@code spark-bundle} does after asking Maven for it, measuring the class path with an
 * emulated run), a missing part named, then {@code spark-run --emulated} through its phases from the parts alone,
 * with their own jlinked runtime: the trimmed class path and runtime run the command line's fit, fine-tuning and
 * scoring in Spark local mode.
 */
class GpuSparkCheckScriptTest {
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
    GpuCheckScript.assertPassed(dryRun, tmp, "fit-tiny", "glue", "bench");
  }

  private static Result script(Path tmp, int timeoutSeconds, String... args) throws Exception {
    return GpuCheckScript.run(2, tmp, timeoutSeconds, args);
  }
}
