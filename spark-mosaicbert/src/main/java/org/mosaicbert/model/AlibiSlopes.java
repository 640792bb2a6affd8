package org.mosaicbert.model;

/**
 * ALiBi slopes (MosaicBERT's {@code _get_alibi_head_slopes}): for n a power of two, m_h = 2^(−8(h+1)/n); otherwise
 * the slopes of the largest power of two p below n, then every other slope of 2p, n − p of them. Rounded to float32,
 * as upstream holds them.
 */
public final class AlibiSlopes {
  private AlibiSlopes() {}

  public static float[] of(int heads) {
    if (heads < 1) {
      throw new IllegalArgumentException("heads must be at least 1, got " + heads);
    }
    double[] slopes = new double[heads];
    int p = Integer.highestOneBit(heads);
    double[] base = powerOfTwo(p);
    System.arraycopy(base, 0, slopes, 0, p);
    if (p < heads) {
      double[] doubled = powerOfTwo(2 * p);
      for (int i = 0; i < heads - p; i++) {
        slopes[p + i] = doubled[2 * i];
      }
    }
    float[] out = new float[heads];
    for (int h = 0; h < heads; h++) {
      out[h] = (float) slopes[h];
    }
    return out;
  }

  private static double[] powerOfTwo(int n) {
    double start = Math.pow(2, -Math.pow(2, -(Math.log(n) / Math.log(2) - 3)));
    double[] slopes = new double[n];
    for (int h = 0; h < n; h++) {
      slopes[h] = start * Math.pow(start, h);
    }
    return slopes;
  }
}
