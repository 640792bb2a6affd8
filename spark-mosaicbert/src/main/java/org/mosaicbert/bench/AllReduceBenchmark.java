package org.mosaicbert.bench;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import org.mosaicbert.collective.LoopbackRing;

/** The TCP ring allreduce's bandwidth on loopback, N ranks in one JVM: {@code bin/mosaicbert bench --allreduce}. */
public final class AllReduceBenchmark {
  private AllReduceBenchmark() {}

  /**
   * Allreduce bandwidth on loopback as nccl-tests define it: algorithm bandwidth = bytes / time, bus bandwidth =
   * algorithm bandwidth · 2(n−1)/n (what each link carries).
   */
  public static void run(int[] rankCounts, long[] sizesBytes, PrintStream out) {
    out.printf("%6s %14s %10s %12s %12s%n", "ranks", "size (bytes)", "time (ms)", "algbw GB/s", "busbw GB/s");
    for (int ranks : rankCounts) {
      for (long bytes : sizesBytes) {
        int floats = (int) (bytes / 4);
        List<Double> times = LoopbackRing.run(ranks, 120_000, c -> {
          float[] data = new float[floats];
          Arrays.fill(data, 1f);
          c.allReduceSum(data); // warm-up
          double best = Double.MAX_VALUE;
          for (int i = 0; i < 3; i++) {
            c.barrier();
            long t0 = System.nanoTime();
            c.allReduceSum(data);
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
          }
          return best;
        });
        double seconds = times.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
        double algbw = floats * 4.0 / seconds / 1e9;
        out.printf("%6d %14d %10.2f %12.2f %12.2f%n", ranks, floats * 4L, seconds * 1e3, algbw,
            algbw * 2 * (ranks - 1) / ranks);
      }
    }
  }
}
