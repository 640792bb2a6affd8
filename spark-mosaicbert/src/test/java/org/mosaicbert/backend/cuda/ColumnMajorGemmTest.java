package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The three cuBLAS calls of a linear layer, as CublasGemms makes them ({@link ColumnMajorGemm}), run through BLAS's
 * column-major GEMM semantics on the engine's row-major buffers, give the row-major math: y = x·Wᵀ, dW += dyᵀ·x,
 * dx = dy·W (or += dy·W). The emulated device does its GEMMs from the math directly, so this is what checks the
 * transposes and leading dimensions that only a GPU would otherwise exercise.
 */
class ColumnMajorGemmTest {
  /** BLAS sgemm: C[m, n] = op(A)·op(B) (+ C), column-major with leading dimensions. */
  static void gemm(ColumnMajorGemm g, float[] a, float[] b, float[] c, boolean accumulate) {
    assertTrue(g.lda() >= g.aRows() && g.ldb() >= g.bRows() && g.ldc() >= g.m(), "leading dimensions: " + g);
    for (int j = 0; j < g.n(); j++) {
      for (int i = 0; i < g.m(); i++) {
        double sum = 0;
        for (int l = 0; l < g.k(); l++) {
          float av = g.transA() ? a[l + i * g.lda()] : a[i + l * g.lda()];
          float bv = g.transB() ? b[j + l * g.ldb()] : b[l + j * g.ldb()];
          sum += (double) av * bv;
        }
        c[i + j * g.ldc()] = (float) ((accumulate ? c[i + j * g.ldc()] : 0) + sum);
      }
    }
  }

  private static float[] random(SplittableRandom rnd, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) rnd.nextGaussian();
    }
    return a;
  }

  @Test
  void theLinearLayersGemmsComputeTheRowMajorMath() {
    int rows = 5;
    int in = 3;
    int out = 4;
    SplittableRandom rnd = new SplittableRandom(1);
    float[] x = random(rnd, rows * in);
    float[] w = random(rnd, out * in);
    float[] dy = random(rnd, rows * out);
    float[] dwBefore = random(rnd, out * in);
    float[] dxBefore = random(rnd, rows * in);

    float[] y = new float[rows * out];
    gemm(ColumnMajorGemm.linear(rows, in, out), w, x, y, false);
    float[] dw = dwBefore.clone();
    gemm(ColumnMajorGemm.weightGradient(rows, in, out), x, dy, dw, true);
    float[] dx = dxBefore.clone();
    gemm(ColumnMajorGemm.inputGradient(rows, in, out), w, dy, dx, true);

    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double v = 0;
        for (int i = 0; i < in; i++) {
          v += x[r * in + i] * w[o * in + i];
        }
        assertEquals(v, y[r * out + o], 1e-5, "y = x·Wᵀ at " + r + "," + o);
      }
    }
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double v = dwBefore[o * in + i];
        for (int r = 0; r < rows; r++) {
          v += dy[r * out + o] * x[r * in + i];
        }
        assertEquals(v, dw[o * in + i], 1e-5, "dW += dyᵀ·x at " + o + "," + i);
      }
    }
    for (int r = 0; r < rows; r++) {
      for (int i = 0; i < in; i++) {
        double v = dxBefore[r * in + i];
        for (int o = 0; o < out; o++) {
          v += dy[r * out + o] * w[o * in + i];
        }
        assertEquals(v, dx[r * in + i], 1e-5, "dx += dy·W at " + r + "," + i);
      }
    }
  }
}
