package org.mosaicbert.backend.cpu;

/** The error function and GELU for float32 work (Java has no Math.erf). */
final class Erf {
  private Erf() {}

  private static final float INV_SQRT2 = 0.70710678f;
  private static final float INV_SQRT_2PI = 0.39894228f;

  /**
   * erf(x) in float32 as a rational minimax approximation, x·P(x²)/Q(x²) on [−4, 4] (beyond, erf is ±1 in float32):
   * the approximation XLA and Eigen use, within a few float32 ulps and with no exp, so GELU's forward pass costs a
   * handful of multiplies per element.
   */
  static float erf(float x) {
    float c = Math.max(-4f, Math.min(4f, x));
    float x2 = c * c;
    float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = x2 * p - 2.10102402082508e-06f;
    p = x2 * p - 5.69250639462346e-05f;
    p = x2 * p - 7.34990630326855e-04f;
    p = x2 * p - 2.95459980854025e-03f;
    p = x2 * p - 1.60960333262415e-02f;
    float q = x2 * -1.45660718464996e-05f - 2.13374055278905e-04f;
    q = x2 * q - 1.68282697438203e-03f;
    q = x2 * q - 7.37332916720468e-03f;
    q = x2 * q - 1.42647390514189e-02f;
    return c * p / q;
  }

  /** GELU(x) = x·Φ(x), Φ the standard normal CDF. */
  static float gelu(float x) {
    return 0.5f * x * (1f + erf(x * INV_SQRT2));
  }

  /** GELU'(x) = Φ(x) + x·φ(x). */
  static float geluGrad(float x) {
    float cdf = 0.5f * (1f + erf(x * INV_SQRT2));
    float pdf = INV_SQRT_2PI * (float) Math.exp(-0.5f * x * x);
    return cdf + x * pdf;
  }
}
