package org.mosaicbert.collective;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/**
 * N ring ranks inside one JVM on loopback, one thread each: for tests and the allreduce benchmark (the trainer forms
 * its ring across Spark tasks instead).
 */
public final class LoopbackRing {
  private LoopbackRing() {}

  /** Runs body(collective) on every rank at once and returns their results by rank. */
  public static <T> List<T> run(int ranks, int timeoutMillis, Function<Collective, T> body) {
    byte[] secret = new byte[32];
    new SecureRandom().nextBytes(secret);
    List<ServerSocket> servers = new ArrayList<>();
    List<String> addresses = new ArrayList<>();
    ExecutorService pool = Executors.newFixedThreadPool(ranks);
    try {
      for (int r = 0; r < ranks; r++) {
        ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        servers.add(server);
        addresses.add("127.0.0.1:" + server.getLocalPort());
      }
      List<Future<T>> futures = new ArrayList<>();
      for (int r = 0; r < ranks; r++) {
        int rank = r;
        futures.add(pool.submit(() -> {
          try (Collective c = new TcpRingCollective(rank, addresses, servers.get(rank), secret, timeoutMillis)) {
            return body.apply(c);
          }
        }));
      }
      List<T> results = new ArrayList<>();
      for (Future<T> f : futures) {
        results.add(f.get());
      }
      return results;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (Exception e) {
      throw new IllegalStateException(e.getCause() != null ? e.getCause() : e);
    } finally {
      pool.shutdownNow();
      for (ServerSocket s : servers) {
        try {
          s.close();
        } catch (IOException ignored) {
          // shutting down
        }
      }
    }
  }

  /**
   * Allreduce bandwidth on loopback as nccl-tests define it: algorithm bandwidth = bytes / time, bus bandwidth =
   * algorithm bandwidth · 2(n−1)/n (what each link carries).
   */
  public static void benchmark(int[] rankCounts, long[] sizesBytes, PrintStream out) {
    out.printf("%6s %14s %10s %12s %12s%n", "ranks", "size (bytes)", "time (ms)", "algbw GB/s", "busbw GB/s");
    for (int ranks : rankCounts) {
      for (long bytes : sizesBytes) {
        int floats = (int) (bytes / 4);
        List<Double> times = run(ranks, 120_000, c -> {
          float[] data = new float[floats];
          java.util.Arrays.fill(data, 1f);
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
