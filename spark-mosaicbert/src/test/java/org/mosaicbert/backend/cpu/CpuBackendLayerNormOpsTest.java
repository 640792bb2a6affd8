package org.mosaicbert.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mosaicbert.backend.cpu.OpsFixture.U;
import static org.mosaicbert.backend.cpu.OpsFixture.assertClose;
import static org.mosaicbert.backend.cpu.OpsFixture.dot;
import static org.mosaicbert.backend.cpu.OpsFixture.numericGradient;
import static org.mosaicbert.backend.cpu.OpsFixture.toDouble;

import java.util.Arrays;
import java.util.function.BinaryOperator;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.View;
import org.mosaicbert.random.Hashing;

/**
 * LayerNorm, dropout, and the end of a post-LN block that fuses them with the residual, forward and backward: against
 * the formulas in double, the backward passes against finite differences of the double forward pass. Rows differ in
 * mean and spread, and eps is large enough (1e-3) that leaving it out would show.
 */
class CpuBackendLayerNormOpsTest {
  private static final int N = 6;
  private static final int HIDDEN = 16;
  private static final float EPS = 1e-3f;

  /** Rows of unit-scale noise with a mean and a spread of their own. */
  private static float[] rows(OpsFixture f) {
    float[] x = f.gaussian(N * HIDDEN);
    for (int r = 0; r < N; r++) {
      for (int c = 0; c < HIDDEN; c++) {
        x[r * HIDDEN + c] = x[r * HIDDEN + c] * (0.5f + 0.4f * r) + (r - 2);
      }
    }
    return x;
  }

  /** Weights around 1 and biases around 0, away from both, so that each term of the gradients matters. */
  private static float[] around(OpsFixture f, float center, int n) {
    float[] v = f.gaussian(n);
    for (int i = 0; i < n; i++) {
      v[i] = center + 0.3f * v[i];
    }
    return v;
  }

  private static double mean(double[] x, int r) {
    double s = 0;
    for (int c = 0; c < HIDDEN; c++) {
      s += x[r * HIDDEN + c];
    }
    return s / HIDDEN;
  }

  /** 1/√(var + eps), var the biased variance of row r. */
  private static double rstd(double[] x, int r) {
    double mu = mean(x, r);
    double var = 0;
    for (int c = 0; c < HIDDEN; c++) {
      var += (x[r * HIDDEN + c] - mu) * (x[r * HIDDEN + c] - mu);
    }
    return 1 / Math.sqrt(var / HIDDEN + EPS);
  }

  /** out[r][c] = (x[r][c] − mean_r)·rstd_r·w[c] + b[c]. */
  private static double[] layerNorm(double[] x, double[] w, double[] b) {
    double[] out = new double[N * HIDDEN];
    for (int r = 0; r < N; r++) {
      double mu = mean(x, r);
      double rs = rstd(x, r);
      for (int c = 0; c < HIDDEN; c++) {
        out[r * HIDDEN + c] = (x[r * HIDDEN + c] - mu) * rs * w[c] + b[c];
      }
    }
    return out;
  }

  /** Whether dropout keeps element (r, c): the hash of (its row's key, the site) at column c is at least p. */
  private static boolean kept(long[] rowKeys, long site, int r, int c, float p) {
    return Hashing.uniform(Hashing.key(rowKeys[r], site), c) >= p;
  }

  /** Inverted dropout in double: kept elements scaled by 1/(1−p), the others 0. */
  private static double[] dropout(double[] x, int width, float p, long[] rowKeys, long site) {
    double[] out = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = kept(rowKeys, site, i / width, i % width, p) ? x[i] / (1 - (double) p) : 0;
    }
    return out;
  }

  /** What the end of a post-LN block normalises: dropout(branch) + residual. */
  private static double[] droppedPlusResidual(double[] branch, double[] residual, float p, long[] rowKeys, long site) {
    double[] x = dropout(branch, HIDDEN, p, rowKeys, site);
    for (int i = 0; i < x.length; i++) {
      x[i] += residual[i];
    }
    return x;
  }

  private static long[] rowKeys(OpsFixture f, int rows) {
    long[] keys = new long[rows];
    for (int r = 0; r < rows; r++) {
      keys[r] = f.rnd.nextLong();
    }
    return keys;
  }

  /**
   * The mean and 1/std come from sums in double, rounded once to float (U). The output makes about five float
   * roundings on terms of up to 2 or so (x − mean, ·rstd, ·w, + b, and the rounded statistics): 8·U.
   */
  @Test
  void layerNormIsEachRowStandardisedThenScaledByTheWeightAndShiftedByTheBias() {
    try (OpsFixture f = new OpsFixture(31)) {
      float[] x = rows(f);
      float[] w = around(f, 1, HIDDEN);
      float[] b = around(f, 0, HIDDEN);
      View out = f.zeros(N * HIDDEN);
      View mean = f.zeros(N);
      View rstd = f.zeros(N);
      f.cpu.layerNorm(out, mean, rstd, f.upload(x), f.upload(w), f.upload(b), N, HIDDEN, EPS);
      double[] xd = toDouble(x);
      double[] wantMean = new double[N];
      double[] wantRstd = new double[N];
      for (int r = 0; r < N; r++) {
        wantMean[r] = mean(xd, r);
        wantRstd[r] = rstd(xd, r);
      }
      assertClose(wantMean, f.download(mean, N), U, "mean");
      assertClose(wantRstd, f.download(rstd, N), U, "1/√(var + eps)");
      assertClose(layerNorm(xd, toDouble(w), toDouble(b)), f.download(out, N * HIDDEN), 8 * U,
          "(x − mean)·rstd·w + b");
    }
  }

  /**
   * dinp, dw and db are the gradients of Σ dout ⊙ LayerNorm(x) in x, w and b; dw and db are added to what they held.
   * dinp = (g − mean(g) − x̂·mean(g·x̂))·rstd with g = dout·w cancels terms of a few units, each rounded in float, and
   * dw sums N float products per element: 1e-6 (17·U) allows for about ten roundings of terms up to 2.
   */
  @Test
  void layerNormBackwardIsTheGradientOfDoutDotLayerNormInTheInputWeightAndBias() {
    try (OpsFixture f = new OpsFixture(32)) {
      float[] x = rows(f);
      float[] w = around(f, 1, HIDDEN);
      float[] b = around(f, 0, HIDDEN);
      float[] dout = f.gaussian(N * HIDDEN);
      float[] dwBefore = f.gaussian(HIDDEN);
      float[] dbBefore = f.gaussian(HIDDEN);
      View inp = f.upload(x);
      View weight = f.upload(w);
      View mean = f.zeros(N);
      View rstd = f.zeros(N);
      f.cpu.layerNorm(f.zeros(N * HIDDEN), mean, rstd, inp, weight, f.upload(b), N, HIDDEN, EPS);
      View dinp = f.upload(f.gaussian(N * HIDDEN));
      View dw = f.upload(dwBefore);
      View db = f.upload(dbBefore);
      f.cpu.layerNormBackward(dinp, dw, db, f.upload(dout), inp, weight, mean, rstd, N, HIDDEN);

      double[] xd = toDouble(x);
      double[] wd = toDouble(w);
      double[] bd = toDouble(b);
      double[] g = toDouble(dout);
      double[] wantDinp = numericGradient(v -> dot(g, layerNorm(v, wd, bd)), xd);
      double[] wantDw = numericGradient(v -> dot(g, layerNorm(xd, v, bd)), wd);
      double[] wantDb = numericGradient(v -> dot(g, layerNorm(xd, wd, v)), bd);
      for (int c = 0; c < HIDDEN; c++) {
        wantDw[c] += dwBefore[c];
        wantDb[c] += dbBefore[c];
      }
      assertClose(wantDinp, f.download(dinp, N * HIDDEN), 1e-6, "dinp");
      assertClose(wantDw, f.download(dw, HIDDEN), 1e-6, "dw += Σ dout·x̂");
      assertClose(wantDb, f.download(db, HIDDEN), 1e-6, "db += Σ dout");
    }
  }

  /**
   * The zeroed elements are exactly those whose hash falls below p; a kept one is x·(1/(1−p)) after three float
   * roundings (1 − p, its inverse, the product), within 3·U of x/(1−p).
   */
  @Test
  void dropoutZeroesWhereTheHashOfTheRowKeyAndSiteFallsBelowPAndScalesTheRestByOneOverOneMinusP() {
    try (OpsFixture f = new OpsFixture(33)) {
      int rows = 8;
      int width = 64;
      float p = 0.3f;
      long site = 7;
      long[] keys = rowKeys(f, rows);
      float[] x = f.gaussian(rows * width);
      View v = f.upload(x);
      f.cpu.dropout(v, rows, width, p, keys, site);
      float[] got = f.download(v, rows * width);
      int dropped = 0;
      for (int i = 0; i < x.length; i++) {
        boolean keep = kept(keys, site, i / width, i % width, p);
        assertEquals(keep, got[i] != 0, "element " + i + " kept");
        dropped += keep ? 0 : 1;
      }
      assertClose(dropout(toDouble(x), width, p, keys, site), got, 3 * U, "x/(1−p) where kept");
      // The hash is deterministic; this only says it is a fair coin: 30% of 512 is 154, ±3 standard deviations.
      assertTrue(dropped > 122 && dropped < 186, dropped + " of 512 dropped");
    }
  }

  /** The mask depends on the row's key and the site alone: so the same call on a gradient is the backward pass. */
  @Test
  void dropoutMasksRowsOfTheSameKeyAlikeAndAnotherSiteOtherwise() {
    try (OpsFixture f = new OpsFixture(34)) {
      int width = 64;
      long key = f.rnd.nextLong();
      float[] ones = new float[3 * width];
      Arrays.fill(ones, 1f);
      View v = f.upload(ones);
      f.cpu.dropout(v, 2, width, 0.5f, new long[] {key, key}, 1);
      f.cpu.dropout(v.at(2 * width), 1, width, 0.5f, new long[] {key}, 2);
      float[] got = f.download(v, 3 * width);
      float[] first = Arrays.copyOfRange(got, 0, width);
      assertArrayEquals(first, Arrays.copyOfRange(got, width, 2 * width), "same key, same site");
      assertFalse(Arrays.equals(first, Arrays.copyOfRange(got, 2 * width, 3 * width)), "another site");
    }
  }

  @Test
  void dropoutOfPZeroLeavesTheValuesAsTheyAre() {
    try (OpsFixture f = new OpsFixture(35)) {
      float[] x = f.gaussian(4 * 16);
      View v = f.upload(x);
      f.cpu.dropout(v, 4, 16, 0f, rowKeys(f, 4), 3);
      assertArrayEquals(x, f.download(v, x.length));
    }
  }

  /**
   * x ← dropout(x) + residual, then LayerNorm(x): x on exit is the sum (dropout's 3 roundings and the addition's, on
   * terms up to about 2: 8·U); the statistics and the output are those of LayerNorm on that x (4·U and 8·U, as in
   * the plain LayerNorm test, plus x's own error, averaged over the row).
   */
  @Test
  void dropoutResidualLayerNormIsLayerNormOfTheDroppedBranchPlusTheResidual() {
    try (OpsFixture f = new OpsFixture(36)) {
      float p = 0.1f;
      long site = 11;
      long[] keys = rowKeys(f, N);
      float[] branch = f.gaussian(N * HIDDEN);
      float[] residual = rows(f);
      float[] w = around(f, 1, HIDDEN);
      float[] b = around(f, 0, HIDDEN);
      View x = f.upload(branch);
      View out = f.zeros(N * HIDDEN);
      View mean = f.zeros(N);
      View rstd = f.zeros(N);
      f.cpu.dropoutResidualLayerNorm(out, mean, rstd, x, f.upload(residual), f.upload(w), f.upload(b), N, HIDDEN,
          EPS, p, keys, site);
      double[] sum = droppedPlusResidual(toDouble(branch), toDouble(residual), p, keys, site);
      double[] wantMean = new double[N];
      double[] wantRstd = new double[N];
      for (int r = 0; r < N; r++) {
        wantMean[r] = mean(sum, r);
        wantRstd[r] = rstd(sum, r);
      }
      assertClose(sum, f.download(x, N * HIDDEN), 8 * U, "x = dropout(branch) + residual");
      assertClose(wantMean, f.download(mean, N), 4 * U, "mean");
      assertClose(wantRstd, f.download(rstd, N), 4 * U, "1/√(var + eps)");
      assertClose(layerNorm(sum, toDouble(w), toDouble(b)), f.download(out, N * HIDDEN), 8 * U,
          "LayerNorm(dropout(branch) + residual)");
    }
  }

  /**
   * Of y = LayerNorm(dropout(branch) + residual): dResidual = ∂(Σ dout ⊙ y)/∂residual, dBranch the same in branch
   * (dResidual masked and scaled as the forward pass was), dw and db added to what they held. The float errors are
   * those of the plain LayerNorm backward pass (1e-6).
   */
  @Test
  void dropoutResidualLayerNormBackwardGivesTheGradientsInTheResidualTheBranchTheWeightAndTheBias() {
    try (OpsFixture f = new OpsFixture(37)) {
      float p = 0.1f;
      long site = 11;
      long[] keys = rowKeys(f, N);
      float[] branch = f.gaussian(N * HIDDEN);
      float[] residual = rows(f);
      float[] w = around(f, 1, HIDDEN);
      float[] b = around(f, 0, HIDDEN);
      float[] dout = f.gaussian(N * HIDDEN);
      float[] dwBefore = f.gaussian(HIDDEN);
      float[] dbBefore = f.gaussian(HIDDEN);
      View x = f.upload(branch);
      View weight = f.upload(w);
      View mean = f.zeros(N);
      View rstd = f.zeros(N);
      f.cpu.dropoutResidualLayerNorm(f.zeros(N * HIDDEN), mean, rstd, x, f.upload(residual), weight, f.upload(b),
          N, HIDDEN, EPS, p, keys, site);
      View dResidual = f.upload(f.gaussian(N * HIDDEN));
      View dBranch = f.upload(f.gaussian(N * HIDDEN));
      View dw = f.upload(dwBefore);
      View db = f.upload(dbBefore);
      f.cpu.dropoutResidualLayerNormBackward(dResidual, dBranch, dw, db, f.upload(dout), x, weight, mean, rstd, N,
          HIDDEN, p, keys, site);

      double[] g = toDouble(dout);
      double[] br = toDouble(branch);
      double[] res = toDouble(residual);
      double[] wd = toDouble(w);
      double[] bd = toDouble(b);
      BinaryOperator<double[]> sum = (u, r) -> droppedPlusResidual(u, r, p, keys, site);
      double[] wantResidual = numericGradient(v -> dot(g, layerNorm(sum.apply(br, v), wd, bd)), res);
      double[] wantBranch = numericGradient(v -> dot(g, layerNorm(sum.apply(v, res), wd, bd)), br);
      double[] wantDw = numericGradient(v -> dot(g, layerNorm(sum.apply(br, res), v, bd)), wd);
      double[] wantDb = numericGradient(v -> dot(g, layerNorm(sum.apply(br, res), wd, v)), bd);
      for (int c = 0; c < HIDDEN; c++) {
        wantDw[c] += dwBefore[c];
        wantDb[c] += dbBefore[c];
      }
      assertClose(wantResidual, f.download(dResidual, N * HIDDEN), 1e-6, "dResidual");
      assertClose(wantBranch, f.download(dBranch, N * HIDDEN), 1e-6, "dBranch");
      assertClose(wantDw, f.download(dw, HIDDEN), 1e-6, "dw");
      assertClose(wantDb, f.download(db, HIDDEN), 1e-6, "db");
    }
  }
}
