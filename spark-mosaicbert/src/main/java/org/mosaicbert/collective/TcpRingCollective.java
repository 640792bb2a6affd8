package org.mosaicbert.collective;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Ring allreduce over TCP for CPU workers: reduce-scatter, then all-gather, each rank sending to the next and
 * receiving from the previous at the same time, so every link carries 2·(N−1)/N of the data (the bandwidth-optimal
 * schedule). The summation order is fixed by the ring, so the same world size always gives the same bits.
 *
 * <p>A peer must present the job's secret when it connects, or it is refused. Connections are accepted and
 * authenticated concurrently, each handshake within one deadline for the whole exchange, so a stranger that connects
 * and stays silent, or drips its bytes, cannot hold the ring from forming. Every read times out after
 * {@code timeoutMillis}: a dead or silent peer ends the operation with an error that names it, never a hang.
 */
public final class TcpRingCollective extends RankedCollective {
  /** Bytes per socket write: large enough to stream at full speed, small enough to pipeline the ring. */
  private static final int CHUNK_FLOATS = 1 << 18;
  /** A connection must finish its handshake (secret and rank) within this, whatever the ring's timeout. */
  static final int HANDSHAKE_MILLIS = 10_000;
  /** Handshakes authenticated at once; further connections wait in the server's backlog. */
  private static final int MAX_PENDING_HANDSHAKES = 16;

  private final List<String> addresses;
  private final Socket toNext;
  private final Socket fromPrevious;
  private final DataOutputStream out;
  private final DataInputStream in;
  private final ExecutorService sender;
  private final byte[] sendBytes = new byte[CHUNK_FLOATS * 4];
  private final byte[] receiveBytes = new byte[CHUNK_FLOATS * 4];

  /**
   * Connects the ring: this rank connects to rank+1 and accepts rank−1 on {@code server}.
   *
   * @param addresses "host:port" of every rank's server, by rank
   */
  public TcpRingCollective(int rank, List<String> addresses, ServerSocket server, byte[] secret, int timeoutMillis)
      throws IOException {
    super(rank, addresses.size());
    this.addresses = List.copyOf(addresses);
    if (worldSize == 1) {
      toNext = null;
      fromPrevious = null;
      out = null;
      in = null;
      sender = null;
      return;
    }
    int next = (rank + 1) % worldSize;
    int previous = (rank - 1 + worldSize) % worldSize;
    Socket connected = null;
    Socket accepted = null;
    try {
      connected = connect(addresses.get(next), timeoutMillis);
      DataOutputStream hello = new DataOutputStream(connected.getOutputStream());
      hello.writeInt(secret.length);
      hello.write(secret);
      hello.writeInt(rank);
      hello.flush();
      accepted = acceptFrom(server, previous, secret, timeoutMillis);
      for (Socket s : new Socket[] {connected, accepted}) {
        s.setTcpNoDelay(true);
        s.setSoTimeout(timeoutMillis);
        s.setSendBufferSize(1 << 21);
        s.setReceiveBufferSize(1 << 21);
      }
    } catch (IOException | RuntimeException e) {
      closeQuietly(connected);
      closeQuietly(accepted);
      throw e;
    }
    toNext = connected;
    fromPrevious = accepted;
    out = new DataOutputStream(new BufferedOutputStream(toNext.getOutputStream(), 1 << 16));
    in = new DataInputStream(new BufferedInputStream(fromPrevious.getInputStream(), 1 << 16));
    sender = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "ring-sender-rank-" + rank);
      t.setDaemon(true);
      return t;
    });
  }

  private static Socket connect(String address, int timeoutMillis) throws IOException {
    int colon = address.lastIndexOf(':');
    InetSocketAddress target = new InetSocketAddress(address.substring(0, colon),
        Integer.parseInt(address.substring(colon + 1)));
    long deadline = System.currentTimeMillis() + timeoutMillis;
    while (true) {
      Socket socket = new Socket();
      try {
        socket.connect(target, timeoutMillis);
        return socket;
      } catch (IOException e) {
        socket.close();
        if (System.currentTimeMillis() > deadline) {
          throw new IOException("cannot reach the next rank at " + address + " within " + timeoutMillis + " ms", e);
        }
        try {
          Thread.sleep(50);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted while connecting to " + address, ie);
        }
      }
    }
  }

  /**
   * Accepts until the expected previous rank presents the secret: each connection is authenticated on a thread of
   * its own while accepting goes on, and anyone else is turned away when its handshake fails or runs out of time.
   */
  private static Socket acceptFrom(ServerSocket server, int previous, byte[] secret, int timeoutMillis)
      throws IOException {
    long deadline = System.currentTimeMillis() + timeoutMillis;
    java.util.concurrent.CompletableFuture<Socket> peer = new java.util.concurrent.CompletableFuture<>();
    java.util.concurrent.Semaphore slots = new java.util.concurrent.Semaphore(MAX_PENDING_HANDSHAKES);
    ExecutorService handshakes = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "ring-handshake");
      t.setDaemon(true);
      return t;
    });
    java.util.Set<Socket> pending = java.util.concurrent.ConcurrentHashMap.newKeySet();
    try {
      server.setSoTimeout(50); // to watch the deadline and the handshakes between accepts
      while (!peer.isDone()) {
        long left = deadline - System.currentTimeMillis();
        if (left <= 0) {
          throw new IOException("no peer presenting this job's secret as rank " + previous + " within "
              + timeoutMillis + " ms");
        }
        if (!slots.tryAcquire(Math.min(left, 50), java.util.concurrent.TimeUnit.MILLISECONDS)) {
          continue;
        }
        Socket socket;
        try {
          socket = server.accept();
        } catch (SocketTimeoutException e) {
          slots.release();
          continue;
        }
        pending.add(socket);
        long handshakeDeadline = Math.min(deadline, System.currentTimeMillis() + HANDSHAKE_MILLIS);
        handshakes.execute(() -> {
          try {
            // Out of pending before the loop can see the peer, so that its clean-up does not close the winner.
            if (presents(socket, secret, previous, handshakeDeadline) && pending.remove(socket)
                && !peer.complete(socket)) {
              closeQuietly(socket); // a second connection for the same rank
            }
          } finally {
            slots.release();
          }
        });
      }
      return peer.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for rank " + previous, e);
    } finally {
      pending.forEach(TcpRingCollective::closeQuietly); // strangers, and handshakes still under way
      handshakes.shutdownNow();
    }
  }

  /** Whether the connection presents the secret and the expected rank before {@code deadline} (one for it all). */
  private static boolean presents(Socket socket, byte[] secret, int expectedRank, long deadline) {
    try {
      byte[] hello = new byte[4 + secret.length + 4];
      java.io.InputStream in = socket.getInputStream();
      for (int read = 0; read < hello.length; ) {
        long left = deadline - System.currentTimeMillis();
        if (left <= 0) {
          return false;
        }
        socket.setSoTimeout((int) Math.max(1, left));
        int n = in.read(hello, read, hello.length - read);
        if (n < 0) {
          return false;
        }
        read += n;
      }
      ByteBuffer b = ByteBuffer.wrap(hello); // big-endian, as DataOutputStream wrote it
      byte[] presented = new byte[secret.length];
      int length = b.getInt();
      b.get(presented);
      return length == secret.length && MessageDigest.isEqual(presented, secret) && b.getInt() == expectedRank;
    } catch (IOException e) {
      return false; // a stranger or a broken peer: refused
    }
  }

  private int segmentStart(int segment, int length) {
    return (int) ((long) length * segment / worldSize);
  }

  @Override
  public void allReduceSum(float[] data) {
    if (worldSize == 1) {
      return;
    }
    int n = data.length;
    // Reduce-scatter: after N−1 steps rank r holds the full sum of segment (r + 1) mod N.
    for (int s = 0; s < worldSize - 1; s++) {
      int sendSeg = Math.floorMod(rank - s, worldSize);
      int recvSeg = Math.floorMod(rank - s - 1, worldSize);
      exchange(data, segmentStart(sendSeg, n), segmentStart(sendSeg + 1, n), segmentStart(recvSeg, n),
          segmentStart(recvSeg + 1, n), true);
    }
    // All-gather: pass the finished segments around the ring.
    for (int s = 0; s < worldSize - 1; s++) {
      int sendSeg = Math.floorMod(rank - s + 1, worldSize);
      int recvSeg = Math.floorMod(rank - s, worldSize);
      exchange(data, segmentStart(sendSeg, n), segmentStart(sendSeg + 1, n), segmentStart(recvSeg, n),
          segmentStart(recvSeg + 1, n), false);
    }
  }

  /** Sends data[sendFrom, sendTo) to the next rank while receiving data[recvFrom, recvTo) from the previous. */
  private void exchange(float[] data, int sendFrom, int sendTo, int recvFrom, int recvTo, boolean add) {
    Future<?> sending = sender.submit(() -> {
      send(data, sendFrom, sendTo);
      out.flush();
      return null;
    });
    try {
      receive(data, recvFrom, recvTo, add);
      sending.get();
    } catch (IOException e) {
      sending.cancel(true);
      throw failure("allreduce", e);
    } catch (ExecutionException e) {
      throw failure("allreduce", e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw failure("allreduce", e);
    }
  }

  private void send(float[] data, int from, int to) throws IOException {
    ByteBuffer bytes = ByteBuffer.wrap(sendBytes).order(ByteOrder.LITTLE_ENDIAN);
    for (int start = from; start < to; start += CHUNK_FLOATS) {
      int count = Math.min(CHUNK_FLOATS, to - start);
      bytes.clear();
      bytes.asFloatBuffer().put(data, start, count);
      out.write(sendBytes, 0, count * 4);
    }
  }

  private void receive(float[] data, int from, int to, boolean add) throws IOException {
    ByteBuffer bytes = ByteBuffer.wrap(receiveBytes).order(ByteOrder.LITTLE_ENDIAN);
    float[] incoming = add ? new float[Math.min(CHUNK_FLOATS, Math.max(0, to - from))] : null;
    for (int start = from; start < to; start += CHUNK_FLOATS) {
      int count = Math.min(CHUNK_FLOATS, to - start);
      in.readFully(receiveBytes, 0, count * 4);
      if (add) {
        bytes.clear();
        bytes.asFloatBuffer().get(incoming, 0, count);
        for (int i = 0; i < count; i++) {
          data[start + i] += incoming[i];
        }
      } else {
        bytes.clear();
        bytes.asFloatBuffer().get(data, start, count);
      }
    }
  }

  private RuntimeException failure(String operation, Throwable cause) {
    int previous = (rank - 1 + worldSize) % worldSize;
    int next = (rank + 1) % worldSize;
    String peers = "rank " + previous + " (" + addresses.get(previous) + ")"
        + (next == previous ? "" : " or rank " + next + " (" + addresses.get(next) + ")");
    return new UncheckedIOException(new IOException("rank " + rank + ": " + operation + " failed talking to " + peers
        + ": " + cause.getMessage() + "; a peer died or stopped answering", cause));
  }

  private static void closeQuietly(Socket s) {
    if (s != null) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing after a failure
      }
    }
  }

  @Override
  public void close() {
    if (sender != null) {
      sender.shutdownNow();
    }
    closeQuietly(toNext);
    closeQuietly(fromPrevious);
  }
}
