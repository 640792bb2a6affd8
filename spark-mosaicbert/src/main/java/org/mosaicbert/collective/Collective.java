package org.mosaicbert.collective;

import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.View;

/** What data-parallel ranks do together. Every rank calls the same operations in the same order. */
public interface Collective extends AutoCloseable {
  int rank();

  int worldSize();

  /** data ← Σ over ranks of data, in place, element by element. */
  void allReduceSum(float[] data);

  /**
   * The gradient allreduce of a training step: the first n floats of {@code gradients} (a backend's buffer) and the
   * host values {@code stats} are each summed over ranks, in place. This default sends both in one message through
   * host memory, {@code scratch} (exactly n + stats.length floats) holding it; a collective that can reach the
   * backend's memory (NCCL on the CUDA backend) reduces the gradients where they are, says so in
   * {@link #reducesInDeviceMemory}, and takes a null scratch.
   */
  default void allReduceGradients(Backend backend, View gradients, int n, float[] stats, float[] scratch) {
    if (scratch.length != n + stats.length) {
      throw new IllegalArgumentException("scratch holds " + scratch.length + " floats, not " + (n + stats.length));
    }
    backend.download(scratch, 0, gradients, n);
    System.arraycopy(stats, 0, scratch, n, stats.length);
    allReduceSum(scratch);
    backend.upload(gradients, scratch, 0, n);
    System.arraycopy(scratch, n, stats, 0, stats.length);
  }

  /** Whether {@link #allReduceGradients} reduces the backend's memory where it is (no host scratch needed). */
  default boolean reducesInDeviceMemory(Backend backend) {
    return false;
  }

  /** Returns when every rank has called it. */
  default void barrier() {
    allReduceSum(new float[1]);
  }

  @Override
  void close();

  /** One process alone: every operation is the identity. */
  static Collective single() {
    return new Collective() {
      @Override
      public int rank() {
        return 0;
      }

      @Override
      public int worldSize() {
        return 1;
      }

      @Override
      public void allReduceSum(float[] data) {}

      @Override
      public void close() {}
    };
  }
}
