package org.mosaicbert.collective;

import java.io.IOException;
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
}
