package org.mosaicbert.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.mosaicbert.backend.cpu.OpsFixture.U;
import static org.mosaicbert.backend.cpu.OpsFixture.assertClose;

import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.View;

/**
 * The linear layer y = x·Wᵀ + b (W is PyTorch's [out, in]) and its backward pass, against the sums written out in
 * double. A float32 dot product of k unit-scale terms makes k roundings on partial sums of size up to about √k; of
 * random sign, they add up to about √k·√k·U = k·U: 12·U for the k = 12 used here (7 for the weight gradient, summed
 * over the rows), and 1e-6 (17·U) allows for that. A wrong operand, transpose or accumulation is off by the size of
 * the result.
 */
class CpuBackendLinearOpsTest {
  private static final int ROWS = 7;
  private static final int IN = 12;
  private static final int OUT = 5;
  /** About k·U for k = 12 (inputs) or 7 (rows, in the weight gradient), with room. */
  private static final double DOT_TOL = 1e-6;

  /** out[r][o] = Σ_i inp[r][i]·weight[o][i] + bias[o] (no bias when null). */
  private static double[] linear(float[] inp, float[] weight, float[] bias, int rows, int in, int out) {
    double[] y = new double[rows * out];
    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double s = bias == null ? 0 : bias[o];
        for (int i = 0; i < in; i++) {
          s += (double) inp[r * in + i] * weight[o * in + i];
        }
        y[r * out + o] = s;
      }
    }
    return y;
  }

  @Test
  void linearIsTheInputTimesTheWeightTransposedPlusTheBias() {
    try (OpsFixture f = new OpsFixture(21)) {
      float[] inp = f.gaussian(ROWS * IN);
      float[] weight = f.gaussian(OUT * IN);
      float[] bias = f.gaussian(OUT);
      View out = f.upload(f.gaussian(ROWS * OUT)); // overwritten, not added to
      f.cpu.linear(out, f.upload(inp), f.upload(weight), f.upload(bias), ROWS, IN, OUT);
      assertClose(linear(inp, weight, bias, ROWS, IN, OUT), f.download(out, ROWS * OUT), DOT_TOL, "x·Wᵀ + b");
      f.cpu.linear(out, f.upload(inp), f.upload(weight), null, ROWS, IN, OUT);
      assertClose(linear(inp, weight, null, ROWS, IN, OUT), f.download(out, ROWS * OUT), DOT_TOL, "x·Wᵀ");
    }
  }

  /**
   * A product of over 2^21 multiply-adds is split by rows over the threads; every block must land on its own rows.
   * k = 96 here: about k·U ≈ 6e-6, as above, and 1e-5 allows for that.
   */
  @Test
  void aLinearLargeEnoughToBeSplitOverTheThreadsIsTheSameProduct() {
    try (OpsFixture f = new OpsFixture(22)) {
      int rows = 301;
      int in = 96;
      int out = 80;
      float[] inp = f.gaussian(rows * in);
      float[] weight = f.gaussian(out * in);
      float[] bias = f.gaussian(out);
      View y = f.zeros(rows * out);
      f.cpu.linear(y, f.upload(inp), f.upload(weight), f.upload(bias), rows, in, out);
      assertClose(linear(inp, weight, bias, rows, in, out), f.download(y, rows * out), 1e-5, "x·Wᵀ + b");
    }
  }

  /**
   * dweight += doutᵀ·inp and dbias += the column sums of dout, on top of what they held (parameter gradients
   * accumulate); dinp = dout·weight, written over what it held (an activation gradient).
   */
  @Test
  void linearBackwardAddsToTheWeightAndBiasGradientsAndWritesTheInputGradient() {
    try (OpsFixture f = new OpsFixture(23)) {
      float[] inp = f.gaussian(ROWS * IN);
      float[] weight = f.gaussian(OUT * IN);
      float[] dout = f.gaussian(ROWS * OUT);
      float[] dweight = f.gaussian(OUT * IN);
      float[] dbias = f.gaussian(OUT);
      View dw = f.upload(dweight);
      View db = f.upload(dbias);
      View dinp = f.upload(f.gaussian(ROWS * IN));
      f.cpu.linearBackward(dinp, false, dw, db, f.upload(dout), f.upload(inp), f.upload(weight), ROWS, IN, OUT);

      double[] wantDw = OpsFixture.toDouble(dweight);
      double[] wantDb = OpsFixture.toDouble(dbias);
      double[] wantDinp = new double[ROWS * IN];
      for (int r = 0; r < ROWS; r++) {
        for (int o = 0; o < OUT; o++) {
          double g = dout[r * OUT + o];
          wantDb[o] += g;
          for (int i = 0; i < IN; i++) {
            wantDw[o * IN + i] += g * inp[r * IN + i];
            wantDinp[r * IN + i] += g * weight[o * IN + i];
          }
        }
      }
      assertClose(wantDw, f.download(dw, OUT * IN), DOT_TOL, "dweight += doutᵀ·inp");
      assertClose(wantDb, f.download(db, OUT), U, "dbias += Σ_rows dout (summed in double)");
      assertClose(wantDinp, f.download(dinp, ROWS * IN), DOT_TOL, "dinp = dout·weight");
    }
  }

  @Test
  void linearBackwardWithAccumulateAddsTheInputGradientToWhatDinpHeld() {
    try (OpsFixture f = new OpsFixture(24)) {
      float[] weight = f.gaussian(OUT * IN);
      float[] dout = f.gaussian(ROWS * OUT);
      float[] dinpBefore = f.gaussian(ROWS * IN);
      View dinp = f.upload(dinpBefore);
      f.cpu.linearBackward(dinp, true, f.zeros(OUT * IN), null, f.upload(dout), f.upload(f.gaussian(ROWS * IN)),
          f.upload(weight), ROWS, IN, OUT);
      double[] want = OpsFixture.toDouble(dinpBefore);
      for (int r = 0; r < ROWS; r++) {
        for (int i = 0; i < IN; i++) {
          for (int o = 0; o < OUT; o++) {
            want[r * IN + i] += (double) dout[r * OUT + o] * weight[o * IN + i];
          }
        }
      }
      assertClose(want, f.download(dinp, ROWS * IN), DOT_TOL, "dinp += dout·weight");
    }
  }

  /** With no bias and no input gradient asked for (the first layer's input), only dweight changes. */
  @Test
  void linearBackwardWithoutBiasOrInputGradientAddsOnlyToTheWeightGradient() {
    try (OpsFixture f = new OpsFixture(25)) {
      float[] inp = f.gaussian(ROWS * IN);
      float[] dout = f.gaussian(ROWS * OUT);
      View dw = f.zeros(OUT * IN);
      f.cpu.linearBackward(null, false, dw, null, f.upload(dout), f.upload(inp), f.upload(f.gaussian(OUT * IN)),
          ROWS, IN, OUT);
      double[] want = new double[OUT * IN];
      for (int r = 0; r < ROWS; r++) {
        for (int o = 0; o < OUT; o++) {
          for (int i = 0; i < IN; i++) {
            want[o * IN + i] += (double) dout[r * OUT + o] * inp[r * IN + i];
          }
        }
      }
      assertClose(want, f.download(dw, OUT * IN), DOT_TOL, "dweight = doutᵀ·inp");
    }
  }

  /** A micro-batch with no masked token reaches the MLM head with no rows: nothing is added, nothing written. */
  @Test
  void linearBackwardOfNoRowsChangesNothing() {
    try (OpsFixture f = new OpsFixture(26)) {
      float[] dweight = f.gaussian(OUT * IN);
      float[] dbias = f.gaussian(OUT);
      float[] dinpBefore = f.gaussian(IN);
      View dw = f.upload(dweight);
      View db = f.upload(dbias);
      View dinp = f.upload(dinpBefore);
      f.cpu.linearBackward(dinp, false, dw, db, f.zeros(OUT), f.zeros(IN), f.upload(f.gaussian(OUT * IN)), 0, IN,
          OUT);
      assertArrayEquals(dweight, f.download(dw, OUT * IN), "dweight");
      assertArrayEquals(dbias, f.download(db, OUT), "dbias");
      assertArrayEquals(dinpBefore, f.download(dinp, IN), "dinp beyond its 0 rows");
    }
  }
}
