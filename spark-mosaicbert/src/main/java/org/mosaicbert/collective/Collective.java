package org.mosaicbert.collective;

/** What data-parallel ranks do together. Every rank calls the same operations in the same order. */
public interface Collective extends AutoCloseable {
  int rank();

  int worldSize();

  /** data ← Σ over ranks of data, in place, element by element. */
  void allReduceSum(float[] data);

  /** data ← (Σ over ranks of data) / worldSize. */
  default void allReduceAverage(float[] data) {
    allReduceSum(data);
    float inv = 1f / worldSize();
    for (int i = 0; i < data.length; i++) {
      data[i] *= inv;
    }
  }

  /** data ← root's data. */
  void broadcast(float[] data, int root);

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
      public void broadcast(float[] data, int root) {}

      @Override
      public void close() {}
    };
  }
}
