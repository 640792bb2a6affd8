package org.mosaicbert.backend.cpu;

/** The error function and GELU for float32 work (Java has no Math.erf). */
final class Erf {
  private Erf() {}

  private static final double INV_SQRT2 = 0.7071067811865476;
  private static final double INV_SQRT_2PI = 0.3989422804014327;

  /**
   * erf(x) by Abramowitz and Stegun 7.1.26, maximum absolute error 1.5e-7: below float32 resolution of GELU's
   * outputs at the magnitudes that occur, and far inside the golden-vector tolerances.
   */
  static double erf(double x) {
    double a = Math.abs(x);
    double t = 1.0 / (1.0 + 0.3275911 * a);
    double y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592)
        * t * Math.exp(-a * a);
    return x >= 0 ? y : -y;
  }

  /** GELU(x) = x·Φ(x), Φ the standard normal CDF. */
  static float gelu(float x) {
    return (float) (0.5 * x * (1.0 + erf(x * INV_SQRT2)));
  }

  /** GELU'(x) = Φ(x) + x·φ(x). */
  static float geluGrad(float x) {
    double cdf = 0.5 * (1.0 + erf(x * INV_SQRT2));
    double pdf = INV_SQRT_2PI * Math.exp(-0.5 * (double) x * x);
    return (float) (cdf + x * pdf);
  }
}
