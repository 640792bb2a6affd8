package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.testing.GpuCheckScript;
import org.mosaicbert.testing.GpuCheckScript.Result;
import org.mosaicbert.testing.SharedTestData;

/**
 * scripts/gpu-check.sh as the GPU machine meets it, on this machine: the bundle assembled from this test's class path
 * (what {@code bundle} does after asking Maven for it), {@code run} on a machine without a GPU (the preflight stops,
 * names each missing library and writes its JSON line), then {@code run --emulated} through every phase on the
 * emulated device with the bundle's own jlinked runtime.
 */
class GpuCheckScriptTest {
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
    GpuCheckScript.assertPassed(dryRun, tmp, "parity", "training", "benchmark");
    assertTrue(dryRun.output().contains("phase      status"), "the summary table: " + dryRun.output());
  }

  private static Result script(Path tmp, int timeoutSeconds, String... args) throws Exception {
    return GpuCheckScript.run(1, tmp, timeoutSeconds, args);
  }
}
