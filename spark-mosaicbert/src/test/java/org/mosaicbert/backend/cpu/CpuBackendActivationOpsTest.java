package org.mosaicbert.backend.cpu;

import static org.mosaicbert.backend.cpu.OpsFixture.U;
import static org.mosaicbert.backend.cpu.OpsFixture.assertClose;
import static org.mosaicbert.backend.cpu.OpsFixture.gelu;
import static org.mosaicbert.backend.cpu.OpsFixture.geluDerivative;

import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.View;

/**
 * GELU (exact, erf form), GeGLU and tanh with their backward passes, against the formulas in double: GELU(x) = x·Φ(x),
 * GELU'(x) = Φ(x) + x·φ(x), Φ from a Taylor series of erf. The float erf is within 5e-7 of the true one (ErfTest), so
 * GELU = 0.5·x·(1 + erf(x/√2)) is within 0.5·|x|·5e-7 ≤ 1.25e-6 of the true one for |x| ≤ 5 (the worst, near x = −5,
 * where the result is tiny), and a few float roundings add about 2e-7: 1.5e-6. The derivatives carry half of
 * erf's error times dout.
 */
class CpuBackendActivationOpsTest {
  private static final double GELU_TOL = 1.5e-6;

  /** A sweep of [−5, 5] and a few hundred normal draws. */
  private static float[] inputs(OpsFixture f) {
    float[] x = new float[1001 + 300];
    for (int i = 0; i <= 1000; i++) {
      x[i] = -5f + i * 0.01f;
    }
    float[] g = f.gaussian(300);
    System.arraycopy(g, 0, x, 1001, 300);
    return x;
  }

  @Test
  void geluIsXTimesTheStandardNormalCdfOfX() {
    try (OpsFixture f = new OpsFixture(41)) {
      float[] x = inputs(f);
      double[] want = new double[x.length];
      for (int i = 0; i < x.length; i++) {
        want[i] = gelu(x[i]);
      }
      View out = f.zeros(x.length);
      f.cpu.gelu(out, f.upload(x), x.length);
      assertClose(want, f.download(out, x.length), GELU_TOL, "x·Φ(x)");
    }
  }

  @Test
  void geluBackwardIsDoutTimesTheCdfPlusXTimesTheDensity() {
    try (OpsFixture f = new OpsFixture(42)) {
      float[] x = inputs(f);
      float[] dout = f.gaussian(x.length);
      double[] want = new double[x.length];
      for (int i = 0; i < x.length; i++) {
        want[i] = dout[i] * geluDerivative(x[i]);
      }
      View dinp = f.zeros(x.length);
      f.cpu.geluBackward(dinp, f.upload(dout), f.upload(x), x.length);
      assertClose(want, f.download(dinp, x.length), GELU_TOL, "dout·(Φ(x) + x·φ(x))");
    }
  }

  /** g [n, 2I] is the gate then the linear half of each row; out [n, I] = GELU(gate) ⊙ linear. */
  @Test
  void gegluIsGeluOfTheFirstHalfOfEachRowTimesTheSecondHalf() {
    try (OpsFixture f = new OpsFixture(43)) {
      int n = 5;
      int inter = 8;
      float[] g = f.gaussian(n * 2 * inter);
      double[] want = new double[n * inter];
      for (int r = 0; r < n; r++) {
        for (int c = 0; c < inter; c++) {
          want[r * inter + c] = gelu(g[r * 2 * inter + c]) * g[r * 2 * inter + inter + c];
        }
      }
      View out = f.zeros(n * inter);
      f.cpu.geglu(out, f.upload(g), n, inter);
      assertClose(want, f.download(out, n * inter), GELU_TOL, "GELU(gate)·linear");
    }
  }

  /** d gate = dout·linear·GELU'(gate) and d linear = dout·GELU(gate), side by side as g is. */
  @Test
  void gegluBackwardIsDoutTimesLinearTimesGeluPrimeForTheGateAndDoutTimesGeluForTheLinearHalf() {
    try (OpsFixture f = new OpsFixture(44)) {
      int n = 5;
      int inter = 8;
      float[] g = f.gaussian(n * 2 * inter);
      float[] dout = f.gaussian(n * inter);
      double[] want = new double[n * 2 * inter];
      for (int r = 0; r < n; r++) {
        for (int c = 0; c < inter; c++) {
          double gate = g[r * 2 * inter + c];
          double linear = g[r * 2 * inter + inter + c];
          double d = dout[r * inter + c];
          want[r * 2 * inter + c] = d * linear * geluDerivative(gate);
          want[r * 2 * inter + inter + c] = d * gelu(gate);
        }
      }
      View dg = f.upload(f.gaussian(n * 2 * inter));
      f.cpu.gegluBackward(dg, f.upload(dout), f.upload(g), n, inter);
      assertClose(want, f.download(dg, n * 2 * inter), GELU_TOL, "[d gate | d linear]");
    }
  }

  /** Math.tanh in double, rounded once. */
  @Test
  void tanhIsTheHyperbolicTangent() {
    try (OpsFixture f = new OpsFixture(45)) {
      float[] x = inputs(f);
      double[] want = new double[x.length];
      for (int i = 0; i < x.length; i++) {
        want[i] = Math.tanh(x[i]);
      }
      View out = f.zeros(x.length);
      f.cpu.tanh(out, f.upload(x), x.length);
      assertClose(want, f.download(out, x.length), U, "tanh(x)");
    }
  }

  /**
   * From the forward output y = tanh(x): dinp = dout·(1 − y²). y is the float tanh (within U); 1 − y² then carries
   * up to 2·U from it and two roundings, and the product one more: about 4·U·|dout|, with |dout| up to 4: 16·U.
   */
  @Test
  void tanhBackwardIsDoutTimesOneMinusTheOutputSquared() {
    try (OpsFixture f = new OpsFixture(46)) {
      float[] x = inputs(f);
      float[] dout = f.gaussian(x.length);
      View y = f.zeros(x.length);
      f.cpu.tanh(y, f.upload(x), x.length);
      View dinp = f.zeros(x.length);
      f.cpu.tanhBackward(dinp, f.upload(dout), y, x.length);
      double[] want = new double[x.length];
      for (int i = 0; i < x.length; i++) {
        double t = Math.tanh(x[i]);
        want[i] = dout[i] * (1 - t * t);
      }
      assertClose(want, f.download(dinp, x.length), 16 * U, "dout·(1 − tanh²(x))");
    }
  }
}
