package org.mosaicbert.testing;

/** How training runs that should agree are compared: all their weights at once. */
public final class WeightComparison {
  private WeightComparison() {}

  /**
   * ||a - b|| / ||a|| over every weight: data-parallel runs with different worker counts agree up to float summation
   * order, which keeps this under 1e-5 for the short runs of the tests.
   */
  public static double relativeDifference(float[] a, float[] b) {
    if (a.length != b.length) {
      throw new IllegalArgumentException("different parameter counts: " + a.length + " and " + b.length);
    }
    double err = 0;
    double ref = 0;
    for (int i = 0; i < a.length; i++) {
      err += (a[i] - b[i]) * (a[i] - b[i]);
      ref += a[i] * a[i];
    }
    return Math.sqrt(err / ref);
  }
}
