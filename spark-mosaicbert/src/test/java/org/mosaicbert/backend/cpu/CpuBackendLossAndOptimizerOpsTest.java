package org.mosaicbert.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.mosaicbert.backend.cpu.OpsFixture.U;
import static org.mosaicbert.backend.cpu.OpsFixture.assertClose;

import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.LossSum;
import org.mosaicbert.backend.View;

/** Softmax cross-entropy with its sums and its backward pass, and decoupled AdamW: against the formulas in double. */
class CpuBackendLossAndOptimizerOpsTest {
  private static final int ROWS = 6;
  private static final int CLASSES = 9;

  /** Logits of spread 3, one row shifted by 1000 (exp(1000) overflows even a double: the max must come out first). */
  private static float[] logits(OpsFixture f) {
    float[] x = f.gaussian(ROWS * CLASSES);
    for (int i = 0; i < x.length; i++) {
      x[i] = 3 * x[i] + (i / CLASSES == 2 ? 1000 : 0);
    }
    return x;
  }

  /** log Σ_c exp(logits[r][c]), as max + log Σ exp(logit − max). */
  private static double logSumExp(float[] logits, int r) {
    double max = Double.NEGATIVE_INFINITY;
    for (int c = 0; c < CLASSES; c++) {
      max = Math.max(max, logits[r * CLASSES + c]);
    }
    double sum = 0;
    for (int c = 0; c < CLASSES; c++) {
      sum += Math.exp(logits[r * CLASSES + c] - max);
    }
    return max + Math.log(sum);
  }

  private static double[] softmax(float[] logits) {
    double[] p = new double[logits.length];
    for (int r = 0; r < ROWS; r++) {
      double lse = logSumExp(logits, r);
      for (int c = 0; c < CLASSES; c++) {
        p[r * CLASSES + c] = Math.exp(logits[r * CLASSES + c] - lse);
      }
    }
    return p;
  }

  /**
   * probs = softmax(logits) and lse = logsumexp(logits) per row, rounded to float (U); the returned sum is Σ_r lse_r −
   * logits[r][label_r], −log of the label's probability, summed in double. The backend takes each logit − max in float
   * before exp, within U·|logit − max|: that moves lse by the probability-weighted mean of those errors, about U for
   * these logits. So 2·U for probs and lse, and U per row for the sum.
   */
  @Test
  void crossEntropyGivesTheSoftmaxTheLogSumExpAndTheSummedNegativeLogLikelihoodOfTheLabels() {
    try (OpsFixture f = new OpsFixture(61)) {
      float[] x = logits(f);
      int[] labels = {0, 8, 3, 3, 5, 1};
      View probs = f.zeros(ROWS * CLASSES);
      View lse = f.zeros(ROWS);
      LossSum loss = f.cpu.crossEntropy(probs, lse, f.upload(x), labels, ROWS, CLASSES);
      double[] wantLse = new double[ROWS];
      double wantSum = 0;
      for (int r = 0; r < ROWS; r++) {
        wantLse[r] = logSumExp(x, r);
        wantSum += wantLse[r] - x[r * CLASSES + labels[r]];
      }
      assertClose(softmax(x), f.download(probs, ROWS * CLASSES), 2 * U, "softmax");
      assertClose(wantLse, f.download(lse, ROWS), 2 * U, "logsumexp");
      assertEquals(wantSum, loss.sum(), ROWS * U, "Σ −log p(label)");
    }
  }

  /** A row counts when its label holds the row's largest logit, and on a tie, the first of them. */
  @Test
  void crossEntropyCountsTheRowsWhoseFirstLargestLogitIsTheLabel() {
    try (OpsFixture f = new OpsFixture(62)) {
      float[] x = {
        1, 3, 3, // label 1: the first of two largest, counted
        3, 3, 1, // label 0: the first of two largest, counted
        3, 1, 3, // label 2: the second of two largest, not counted
        5, 1, 2, // label 0: counted
        5, 1, 2, // label 2: not counted
      };
      int[] labels = {1, 0, 2, 0, 2};
      LossSum loss = f.cpu.crossEntropy(f.zeros(15), f.zeros(5), f.upload(x), labels, 5, 3);
      assertEquals(3, loss.correct());
    }
  }

  /**
   * dlogits = (softmax − onehot(label))·scale, from the forward pass's float probs (within U), after a subtraction
   * and a product: 3·U. dlogits may be the probs buffer itself.
   */
  @Test
  void crossEntropyBackwardIsTheSoftmaxMinusTheOneHotLabelTimesTheScale() {
    try (OpsFixture f = new OpsFixture(63)) {
      float[] x = logits(f);
      int[] labels = {4, 0, 8, 2, 2, 7};
      float scale = 1f / 7;
      double[] want = softmax(x);
      for (int r = 0; r < ROWS; r++) {
        want[r * CLASSES + labels[r]] -= 1;
      }
      for (int i = 0; i < want.length; i++) {
        want[i] *= scale;
      }
      View logits = f.upload(x);
      View probs = f.zeros(ROWS * CLASSES);
      View lse = f.zeros(ROWS);
      f.cpu.crossEntropy(probs, lse, logits, labels, ROWS, CLASSES);
      View dlogits = f.upload(f.gaussian(ROWS * CLASSES));
      f.cpu.crossEntropyBackward(dlogits, probs, lse, logits, labels, ROWS, CLASSES, scale);
      assertClose(want, f.download(dlogits, ROWS * CLASSES), 3 * U, "(softmax − onehot)·scale");
      f.cpu.crossEntropyBackward(probs, probs, lse, logits, labels, ROWS, CLASSES, scale);
      assertClose(want, f.download(probs, ROWS * CLASSES), 3 * U, "written over the probs");
    }
  }

  /**
   * Three steps of decoupled AdamW from zero moments: p ← p·(1 − decay); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
   * p ← p − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + ε). Each step rounds p twice (U each, |p| below 4) and the moments
   * three times; over three steps 8·U bounds both.
   */
  @Test
  void adamwDecaysTheWeightsThenTakesAnAdamStepWithBiasCorrection() {
    try (OpsFixture f = new OpsFixture(64)) {
      int n = 40;
      float lr = 1e-2f;
      float beta1 = 0.9f;
      float beta2 = 0.98f;
      float eps = 1e-6f;
      float decay = 0.05f;
      float[] p0 = f.gaussian(n);
      View params = f.upload(p0);
      View m = f.zeros(n);
      View v = f.zeros(n);
      double[] p = OpsFixture.toDouble(p0);
      double[] wantM = new double[n];
      double[] wantV = new double[n];
      for (int step = 1; step <= 3; step++) {
        float[] g = f.gaussian(n);
        f.cpu.adamw(params, f.upload(g), m, v, n, lr, beta1, beta2, eps, decay, step);
        for (int i = 0; i < n; i++) {
          p[i] *= 1 - (double) decay;
          wantM[i] = beta1 * wantM[i] + (1 - (double) beta1) * g[i];
          wantV[i] = beta2 * wantV[i] + (1 - (double) beta2) * g[i] * g[i];
          double stepSize = lr / (1 - Math.pow(beta1, step));
          p[i] -= stepSize * wantM[i] / (Math.sqrt(wantV[i]) / Math.sqrt(1 - Math.pow(beta2, step)) + eps);
        }
      }
      assertClose(p, f.download(params, n), 8 * U, "params");
      assertClose(wantM, f.download(m, n), 8 * U, "m");
      assertClose(wantV, f.download(v, n), 8 * U, "v");
    }
  }
}
