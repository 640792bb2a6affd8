package org.mosaicbert.random;

/**
 * Counter-based randomness: every random number is a hash of the key of what it decides: (seed, optimizer step,
 * sample, position ...) for masks and dropout, (seed, epoch) for the sample order, (seed, tensor) for initial weights.
 * So they are pure functions of those keys and never depend on how the work is split into workers, micro-batches or
 * threads.
 */
public final class Hashing {
  private Hashing() {}

  /** SplitMix64's finalizer: a bijective, well-mixed 64-bit hash. */
  public static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** A key for a tuple of values, order-sensitive. */
  public static long key(long... parts) {
    long h = 0x9E3779B97F4A7C15L;
    for (long part : parts) {
      h = mix(h + part * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L);
    }
    return h;
  }

  /** A uniform float in [0, 1) for element {@code index} under {@code key}. */
  public static float uniform(long key, long index) {
    return (mix(key + index * 0x9E3779B97F4A7C15L) >>> 40) * 0x1.0p-24f;
  }
}
