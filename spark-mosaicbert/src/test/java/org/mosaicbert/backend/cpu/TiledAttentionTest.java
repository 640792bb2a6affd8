package org.mosaicbert.backend.cpu;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sgemm;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.View;
import org.mosaicbert.model.AlibiSlopes;

/**
 * The CPU's tiled attention: against attention computed whole in double precision over sequences of one, two and
 * three tiles, and bit for bit against the untiled softmax it replaced (which kept P) on sequences of one tile.
 */
class TiledAttentionTest {
  private static final int HEADS = 2;
  private static final int HEAD_DIM = 16;
  private static final int HIDDEN = HEADS * HEAD_DIM;

  /** One attention call, forward and backward, on the CPU backend: ctx and dqkv. */
  private record Result(float[] ctx, float[] dqkv) {}

  private static int[] cuSeqlens(int[] lengths) {
    int[] cu = new int[lengths.length + 1];
    for (int b = 0; b < lengths.length; b++) {
      cu[b + 1] = cu[b] + lengths[b];
    }
    return cu;
  }

  private static float[] random(SplittableRandom rnd, int n, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) (rnd.nextGaussian() * scale);
    }
    return a;
  }

  private static Result tiled(int[] lengths, float[] qkv, float[] dctx) {
    return tiled(lengths, qkv, dctx, 2);
  }

  private static Result tiled(int[] lengths, float[] qkv, float[] dctx, int threads) {
    int[] cu = cuSeqlens(lengths);
    int nnz = cu[lengths.length];
    try (CpuBackend cpu = new CpuBackend(threads)) {
      long state = 0;
      for (int len : lengths) {
        state += cpu.attentionStateFloats(HEADS, len);
      }
      View q = cpu.allocate(BufferKind.ACTIVATIONS, qkv.length, "qkv").at(0);
      View c = cpu.allocate(BufferKind.ACTIVATIONS, (long) nnz * HIDDEN, "ctx").at(0);
      View s = cpu.allocate(BufferKind.ACTIVATIONS, Math.max(1, state), "state").at(0);
      View dc = cpu.allocate(BufferKind.ACTIVATIONS, dctx.length, "dctx").at(0);
      View dq = cpu.allocate(BufferKind.ACTIVATIONS, qkv.length, "dqkv").at(0);
      cpu.upload(q, qkv, 0, qkv.length);
      cpu.upload(dc, dctx, 0, dctx.length);
      float[] slopes = AlibiSlopes.of(HEADS);
      cpu.attention(c, s, q, cu, lengths.length, HEADS, HEAD_DIM, slopes);
      cpu.attentionBackward(dq, dc, c, s, q, cu, lengths.length, HEADS, HEAD_DIM, slopes);
      Result r = new Result(new float[nnz * HIDDEN], new float[qkv.length]);
      cpu.download(r.ctx(), 0, c, r.ctx().length);
      cpu.download(r.dqkv(), 0, dq, r.dqkv().length);
      return r;
    }
  }

  @Test
  void sequencesOfSeveralTilesMatchAttentionComputedWholeInDoublePrecision() {
    SplittableRandom rnd = new SplittableRandom(11);
    int block = TiledAttention.BLOCK;
    int[] lengths = {block + 1, 1, 2 * block + 37, block};
    int nnz = java.util.Arrays.stream(lengths).sum();
    float[] qkv = random(rnd, nnz * 3 * HIDDEN, 1.0);
    float[] dctx = random(rnd, nnz * HIDDEN, 1.0);
    Result got = tiled(lengths, qkv, dctx);
    double[][] want = Reference.attention(lengths, qkv, dctx);
    assertClose(want[0], got.ctx(), 2e-5, "ctx");
    assertClose(want[1], got.dqkv(), 2e-5, "dqkv");
  }

  @Test
  void aSequenceOfOneTileGivesTheUntiledSoftmaxBitForBit() {
    SplittableRandom rnd = new SplittableRandom(5);
    int[] lengths = {128, 1, 77, TiledAttention.BLOCK};
    int nnz = java.util.Arrays.stream(lengths).sum();
    float[] qkv = random(rnd, nnz * 3 * HIDDEN, 1.0);
    float[] dctx = random(rnd, nnz * HIDDEN, 1.0);
    Result got = tiled(lengths, qkv, dctx);
    Result untiled = Untiled.attention(lengths, qkv, dctx);
    assertArrayEquals(untiled.ctx(), got.ctx(), "ctx");
    assertArrayEquals(untiled.dqkv(), got.dqkv(), "dqkv");
  }

  /** The forward pass spreads query blocks over the threads; each block's arithmetic must not depend on which. */
  @Test
  void queryBlocksSpreadOverThreadsGiveTheBitsOfOneThread() {
    SplittableRandom rnd = new SplittableRandom(3);
    int[] lengths = {3 * TiledAttention.BLOCK + 5, 40};
    int nnz = java.util.Arrays.stream(lengths).sum();
    float[] qkv = random(rnd, nnz * 3 * HIDDEN, 1.0);
    float[] dctx = random(rnd, nnz * HIDDEN, 1.0);
    Result one = tiled(lengths, qkv, dctx, 1);
    Result three = tiled(lengths, qkv, dctx, 3);
    assertArrayEquals(one.ctx(), three.ctx(), "ctx");
    assertArrayEquals(one.dqkv(), three.dqkv(), "dqkv");
  }

  @Test
  void theStateIsTwoFloatsPerHeadAndToken() {
    try (CpuBackend cpu = new CpuBackend(1)) {
      assertEquals(2L * 12 * 4096, cpu.attentionStateFloats(12, 4096));
    }
  }

  private static void assertClose(double[] want, float[] got, double tol, String what) {
    double err = 0;
    double ref = 0;
    for (int i = 0; i < want.length; i++) {
      err += (got[i] - want[i]) * (got[i] - want[i]);
      ref += want[i] * want[i];
    }
    double rel = Math.sqrt(err / ref);
    assertTrue(rel < tol, what + ": relative error " + rel);
  }

  /** Attention as docs/model.md §1.4 writes it, whole matrices in double. */
  private static final class Reference {
    /** {ctx, dqkv}. */
    static double[][] attention(int[] lengths, float[] qkv, float[] dctx) {
      int[] cu = cuSeqlens(lengths);
      double[] ctx = new double[cu[lengths.length] * HIDDEN];
      double[] dqkv = new double[qkv.length];
      float[] slopes = AlibiSlopes.of(HEADS);
      double scale = 1 / Math.sqrt(HEAD_DIM);
      for (int b = 0; b < lengths.length; b++) {
        int n = lengths[b];
        for (int h = 0; h < HEADS; h++) {
          double[][] p = new double[n][n];
          double[][] dp = new double[n][n];
          for (int i = 0; i < n; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
              p[i][j] = scale * dot(qkv, q(cu[b] + i, h), qkv, k(cu[b] + j, h)) - slopes[h] * Math.abs(i - j);
              max = Math.max(max, p[i][j]);
            }
            double sum = 0;
            for (int j = 0; j < n; j++) {
              p[i][j] = Math.exp(p[i][j] - max);
              sum += p[i][j];
            }
            for (int j = 0; j < n; j++) {
              p[i][j] /= sum;
              for (int c = 0; c < HEAD_DIM; c++) {
                ctx[(cu[b] + i) * HIDDEN + h * HEAD_DIM + c] += p[i][j] * qkv[v(cu[b] + j, h) + c];
              }
              dp[i][j] = dot(dctx, (cu[b] + i) * HIDDEN + h * HEAD_DIM, qkv, v(cu[b] + j, h));
            }
          }
          for (int i = 0; i < n; i++) {
            double rowDot = 0;
            for (int j = 0; j < n; j++) {
              rowDot += dp[i][j] * p[i][j];
            }
            for (int j = 0; j < n; j++) {
              double ds = p[i][j] * (dp[i][j] - rowDot) * scale;
              for (int c = 0; c < HEAD_DIM; c++) {
                dqkv[q(cu[b] + i, h) + c] += ds * qkv[k(cu[b] + j, h) + c];
                dqkv[k(cu[b] + j, h) + c] += ds * qkv[q(cu[b] + i, h) + c];
                dqkv[v(cu[b] + j, h) + c] += p[i][j] * dctx[(cu[b] + i) * HIDDEN + h * HEAD_DIM + c];
              }
            }
          }
        }
      }
      return new double[][] {ctx, dqkv};
    }

    private static int q(int row, int h) {
      return row * 3 * HIDDEN + h * HEAD_DIM;
    }

    private static int k(int row, int h) {
      return q(row, h) + HIDDEN;
    }

    private static int v(int row, int h) {
      return q(row, h) + 2 * HIDDEN;
    }

    private static double dot(float[] a, int at, float[] b, int bt) {
      double s = 0;
      for (int c = 0; c < HEAD_DIM; c++) {
        s += (double) a[at + c] * b[bt + c];
      }
      return s;
    }
  }

  /** The CPU attention before tiles (it kept P, [len, len] per head), as it was, for the bitwise comparison. */
  private static final class Untiled {
    static Result attention(int[] lengths, float[] qkvValues, float[] dctxValues) {
      int[] cu = cuSeqlens(lengths);
      float scale = (float) (1.0 / Math.sqrt(HEAD_DIM));
      float[] slopes = AlibiSlopes.of(HEADS);
      FloatPointer qkv = new FloatPointer(qkvValues);
      FloatPointer dctx = new FloatPointer(dctxValues);
      FloatPointer ctx = new FloatPointer((long) cu[lengths.length] * HIDDEN);
      FloatPointer dqkv = new FloatPointer(qkvValues.length);
      try {
        for (int b = 0; b < lengths.length; b++) {
          int len = lengths[b];
          for (int h = 0; h < HEADS; h++) {
            long base = (long) cu[b] * 3 * HIDDEN + h * HEAD_DIM;
            FloatPointer p = new FloatPointer((long) len * len);
            FloatPointer ds = new FloatPointer((long) len * len);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, len, HEAD_DIM, scale, at(qkv, base), 3 * HIDDEN,
                at(qkv, base + HIDDEN), 3 * HIDDEN, 0f, p, len);
            for (int i = 0; i < len; i++) {
              float max = Float.NEGATIVE_INFINITY;
              for (int j = 0; j < len; j++) {
                float v = p.get((long) i * len + j) - slopes[h] * Math.abs(i - j);
                p.put((long) i * len + j, v);
                max = Math.max(max, v);
              }
              double sum = 0;
              for (int j = 0; j < len; j++) {
                float e = (float) Math.exp(p.get((long) i * len + j) - max);
                p.put((long) i * len + j, e);
                sum += e;
              }
              float inv = (float) (1.0 / sum);
              for (int j = 0; j < len; j++) {
                p.put((long) i * len + j, p.get((long) i * len + j) * inv);
              }
            }
            long ctxAt = (long) cu[b] * HIDDEN + h * HEAD_DIM;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, HEAD_DIM, len, 1f, p, len,
                at(qkv, base + 2 * HIDDEN), 3 * HIDDEN, 0f, at(ctx, ctxAt), HIDDEN);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, len, HEAD_DIM, 1f, at(dctx, ctxAt), HIDDEN,
                at(qkv, base + 2 * HIDDEN), 3 * HIDDEN, 0f, ds, len);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, len, HEAD_DIM, len, 1f, p, len, at(dctx, ctxAt),
                HIDDEN, 0f, at(dqkv, base + 2 * HIDDEN), 3 * HIDDEN);
            for (int i = 0; i < len; i++) {
              double dot = 0;
              for (int j = 0; j < len; j++) {
                dot += ds.get((long) i * len + j) * p.get((long) i * len + j);
              }
              float fdot = (float) dot;
              for (int j = 0; j < len; j++) {
                ds.put((long) i * len + j, p.get((long) i * len + j) * (ds.get((long) i * len + j) - fdot));
              }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, HEAD_DIM, len, scale, ds, len,
                at(qkv, base + HIDDEN), 3 * HIDDEN, 0f, at(dqkv, base), 3 * HIDDEN);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, len, HEAD_DIM, len, scale, ds, len, at(qkv, base),
                3 * HIDDEN, 0f, at(dqkv, base + HIDDEN), 3 * HIDDEN);
            p.deallocate();
            ds.deallocate();
          }
        }
        Result r = new Result(new float[cu[lengths.length] * HIDDEN], new float[qkvValues.length]);
        ctx.get(r.ctx());
        dqkv.get(r.dqkv());
        return r;
      } finally {
        qkv.deallocate();
        dctx.deallocate();
        ctx.deallocate();
        dqkv.deallocate();
      }
    }

    private static FloatPointer at(FloatPointer p, long offset) {
      return new FloatPointer(p).position(offset);
    }
  }
}
