package org.mosaicbert.train;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * The sample stream of a training run: epoch 0's samples in their order, then epoch 1's, and so on, the order of
 * each epoch a pure function of (seed, epoch). Step k's global batch is the stream's positions [k·G, (k+1)·G).
 */
public interface SampleStream extends Serializable {
  /** Samples per epoch. */
  long epochSize();

  /** The samples at stream positions [first, first + count). */
  List<Sample> range(long first, int count);

  /** A dataset held in memory, each epoch a permutation of it ({@link SampleOrder}). */
  static SampleStream inMemory(List<Sample> samples, long seed) {
    return new SampleStream() {
      private transient SampleOrder order;

      @Override
      public long epochSize() {
        return samples.size();
      }

      @Override
      public List<Sample> range(long first, int count) {
        if (order == null) {
          order = new SampleOrder(seed, samples.size());
        }
        List<Sample> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
          out.add(samples.get(order.at(first + i).index()));
        }
        return out;
      }
    };
  }
}
