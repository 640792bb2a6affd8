package org.mosaicbert.train;

import java.util.SplittableRandom;
import org.mosaicbert.random.Hashing;

/**
 * The one global sample order: epoch e visits the dataset in a permutation that is a pure function of (seed, e); the
 * sample stream is epoch 0, then epoch 1, ... So step k's global batch, and each rank's fixed slice of it, follow from
 * k alone: a resumed run needs nothing but the step number, and the order does not depend on the number of workers.
 */
public final class SampleOrder {
  private final long seed;
  private final int size;
  private long cachedEpoch = -1;
  private int[] permutation;

  public SampleOrder(long seed, int size) {
    this.seed = seed;
    this.size = size;
  }

  /** The dataset index and epoch at stream position p. */
  public record Position(int index, long epoch) {}

  public Position at(long position) {
    long epoch = position / size;
    if (epoch != cachedEpoch) {
      permutation = permutation(epoch);
      cachedEpoch = epoch;
    }
    return new Position(permutation[(int) (position % size)], epoch);
  }

  private int[] permutation(long epoch) {
    return permutation(size, Hashing.key(seed, epoch, 0x5EEDL));
  }

  /** A uniformly random permutation of [0, n) (Fisher-Yates), a pure function of {@code key}. */
  public static int[] permutation(int n, long key) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) {
      p[i] = i;
    }
    SplittableRandom rnd = new SplittableRandom(key);
    for (int i = n - 1; i > 0; i--) {
      int j = rnd.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
