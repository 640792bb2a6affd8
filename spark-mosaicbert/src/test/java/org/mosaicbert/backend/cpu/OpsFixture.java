package org.mosaicbert.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.View;

/**
 * What the CPU op tests share: a backend of three threads (so that even a few rows are split into several chunks),
 * host arrays in and out of it, random inputs, and the comparison of a float32 result with a double-precision one.
 *
 * <p>Tolerances: float32 rounds each operation to within {@link #U} = 2^-24 ≈ 6e-8 of its exact result. The inputs
 * are of unit scale, so an op that makes k roundings on terms of unit size lands within about k·U of the double
 * result; {@link #assertClose} measures that error relative to the result where it is above 1, absolute below.
 */
final class OpsFixture implements AutoCloseable {
  /** The unit roundoff of float32: half the distance from 1 to the next float. */
  static final double U = 0x1p-24;

  final CpuBackend cpu = new CpuBackend(3);
  final SplittableRandom rnd;

  OpsFixture(long seed) {
    rnd = new SplittableRandom(seed);
  }

  /** A new buffer holding {@code values}. */
  View upload(float[] values) {
    View v = cpu.allocate(BufferKind.ACTIVATIONS, values.length, "test").at(0);
    cpu.upload(v, values, 0, values.length);
    return v;
  }

  /** A new zeroed buffer of n floats. */
  View zeros(int n) {
    return cpu.allocate(BufferKind.ACTIVATIONS, n, "test").at(0);
  }

  float[] download(View v, int n) {
    float[] out = new float[n];
    cpu.download(out, 0, v, n);
    return out;
  }

  /** n standard normal floats. */
  float[] gaussian(int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    return x;
  }

  static double[] toDouble(float[] x) {
    double[] out = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = x[i];
    }
    return out;
  }

  /** Every |got − want| / max(1, |want|) is at most tol; the message names the worst element. */
  static void assertClose(double[] want, float[] got, double tol, String what) {
    assertTrue(want.length == got.length, what + ": " + got.length + " values, expected " + want.length);
    double worst = 0;
    int at = -1;
    for (int i = 0; i < want.length; i++) {
      double err = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
      if (!(err <= worst)) {
        worst = err;
        at = i;
      }
    }
    assertTrue(worst <= tol, what + ": error " + worst + " over " + tol + " at element " + at + " (" + got[at]
        + ", expected " + want[at] + ")");
  }

  /**
   * ∂f/∂x[i] for every i by central differences in double, (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h with h = 1e-5: the
   * truncation error (h²) and the round-off (1e-16/h) are both about 1e-10 for the unit-scale functions here, far
   * below the float32 errors the tests allow.
   */
  static double[] numericGradient(ToDoubleFunction<double[]> f, double[] x) {
    double h = 1e-5;
    double[] grad = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double saved = x[i];
      x[i] = saved + h;
      double plus = f.applyAsDouble(x);
      x[i] = saved - h;
      double minus = f.applyAsDouble(x);
      x[i] = saved;
      grad[i] = (plus - minus) / (2 * h);
    }
    return grad;
  }

  /** Σ a[i]·b[i]. */
  static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += a[i] * b[i];
    }
    return s;
  }

  /**
   * erf by its Taylor series, 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1)): to about 1e-10 for |x| ≤ 4, where the largest
   * term, about 1e6, costs the last digits of a double.
   */
  static double erf(double x) {
    double sum = 0;
    double term = x;
    for (int n = 0; n < 200; n++) {
      sum += term / (2 * n + 1);
      term *= -x * x / (n + 1);
    }
    return 2 / Math.sqrt(Math.PI) * sum;
  }

  /** The standard normal CDF Φ(x). */
  static double normalCdf(double x) {
    return 0.5 * (1 + erf(x / Math.sqrt(2)));
  }

  /** The standard normal density φ(x). */
  static double normalDensity(double x) {
    return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  }

  /** GELU(x) = x·Φ(x), the exact (erf) form. */
  static double gelu(double x) {
    return x * normalCdf(x);
  }

  /** GELU'(x) = Φ(x) + x·φ(x). */
  static double geluDerivative(double x) {
    return normalCdf(x) + x * normalDensity(x);
  }

  @Override
  public void close() {
    cpu.close();
  }
}
