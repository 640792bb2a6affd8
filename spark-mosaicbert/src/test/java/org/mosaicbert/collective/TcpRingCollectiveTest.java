package org.mosaicbert.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class TcpRingCollectiveTest {
  @Test
  void allReduceSumsOnEveryRank() {
    for (int ranks : new int[] {1, 2, 3, 4}) {
      int n = 1_000_003; // not a multiple of the ranks, and several chunks long
      List<float[]> results = LoopbackRing.run(ranks, 10_000, c -> {
        float[] data = new float[n];
        for (int i = 0; i < n; i++) {
          data[i] = c.rank() + i % 7;
        }
        c.allReduceSum(data);
        return new float[] {data[0], data[n - 1], data[n / 2]};
      });
      float rankSum = ranks * (ranks - 1) / 2f;
      for (float[] r : results) {
        assertArrayEquals(new float[] {rankSum, rankSum + ranks * ((n - 1) % 7), rankSum + ranks * ((n / 2) % 7)}, r,
            "ranks " + ranks);
      }
    }
  }

  @Test
  void aPeerWithoutTheSecretIsRefused() throws Exception {
    try (ServerSocket server0 = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        ServerSocket server1 = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
      List<String> addresses = List.of("127.0.0.1:" + server0.getLocalPort(), "127.0.0.1:" + server1.getLocalPort());
      byte[] secret = "the job's secret, 32 bytes long.".getBytes();
      // A stranger knocks first with the wrong secret, claiming to be rank 1.
      try (Socket stranger = new Socket("127.0.0.1", server0.getLocalPort())) {
        DataOutputStream hello = new DataOutputStream(stranger.getOutputStream());
        hello.writeInt(secret.length);
        hello.write("not the secret, but just as long".getBytes());
        hello.writeInt(1);
        hello.flush();
        CompletableFuture<float[]> rank1 = CompletableFuture.supplyAsync(() -> {
          try (TcpRingCollective c = new TcpRingCollective(1, addresses, server1, secret, 5_000)) {
            float[] data = {2f};
            c.allReduceSum(data);
            return data;
          } catch (IOException e) {
            throw new RuntimeException(e);
          }
        });
        try (TcpRingCollective c = new TcpRingCollective(0, addresses, server0, secret, 5_000)) {
          float[] data = {1f};
          c.allReduceSum(data);
          assertArrayEquals(new float[] {3f}, data, "the ring formed with the real rank 1");
        }
        assertArrayEquals(new float[] {3f}, rank1.get());
      }
    }
  }

  /**
   * Strangers that connect first and then stay silent, or drip a byte at a time, must not keep the ring from forming:
   * with handshakes one after another and a timeout per read, each held rank 0 past the ring's own timeout.
   */
  @Test
  void silentAndSlowStrangersDoNotStopTheRingFromForming() throws Exception {
    try (ServerSocket server0 = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        ServerSocket server1 = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        Socket silent = new Socket("127.0.0.1", server0.getLocalPort());
        Socket dripping = new Socket("127.0.0.1", server0.getLocalPort())) {
      List<String> addresses = List.of("127.0.0.1:" + server0.getLocalPort(), "127.0.0.1:" + server1.getLocalPort());
      byte[] secret = "the job's secret, 32 bytes long.".getBytes();
      Thread drip = new Thread(() -> {
        try {
          for (int i = 0; i < 100; i++) {
            dripping.getOutputStream().write(0);
            Thread.sleep(100);
          }
        } catch (IOException | InterruptedException e) {
          // closed by the ring: the point
        }
      });
      drip.setDaemon(true);
      drip.start();
      int ringTimeout = 3_000; // shorter than the strangers would hold a one-at-a-time, per-read-timeout handshake
      CompletableFuture<float[]> rank1 = CompletableFuture.supplyAsync(() -> {
        try {
          Thread.sleep(500); // the strangers are first in the queue
          try (TcpRingCollective c = new TcpRingCollective(1, addresses, server1, secret, ringTimeout)) {
            float[] data = {2f};
            c.allReduceSum(data);
            return data;
          }
        } catch (IOException | InterruptedException e) {
          throw new RuntimeException(e);
        }
      });
      try (TcpRingCollective c = new TcpRingCollective(0, addresses, server0, secret, ringTimeout)) {
        float[] data = {1f};
        c.allReduceSum(data);
        assertArrayEquals(new float[] {3f}, data);
      }
      assertArrayEquals(new float[] {3f}, rank1.get());
      assertEquals(-1, silent.getInputStream().read(), "the silent stranger was let go when the ring formed");
    }
  }

  @Test
  void aRankOutsideTheRingIsRefusedBeforeAnyConnection() throws Exception {
    try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
      List<String> addresses = List.of("127.0.0.1:1", "127.0.0.1:2");
      String message = assertThrows(IllegalArgumentException.class,
          () -> new TcpRingCollective(2, addresses, server, new byte[32], 1_000)).getMessage();
      assertTrue(message.contains("rank 2 is outside 0..1"), message);
    }
  }

  @Test
  void aSilentPeerEndsTheOperationWithAnErrorInsteadOfAHang() throws Exception {
    long start = System.currentTimeMillis();
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> LoopbackRing.run(2, 1_000, c -> {
      if (c.rank() == 1) {
        try {
          Thread.sleep(4_000); // alive but silent
        } catch (InterruptedException ignored) {
          Thread.currentThread().interrupt();
        }
        return null;
      }
      c.allReduceSum(new float[100]);
      return null;
    }));
    assertTrue(e.getMessage().contains("rank 0: allreduce failed"), e.getMessage());
    assertTrue(System.currentTimeMillis() - start < 10_000);
    assertEquals(true, e.getMessage().contains("stopped answering"));
  }
}
