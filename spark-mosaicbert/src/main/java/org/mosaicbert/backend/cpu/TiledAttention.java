package org.mosaicbert.backend.cpu;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sgemm;
import static org.mosaicbert.backend.cpu.CpuBackend.fb;
import static org.mosaicbert.backend.cpu.CpuBackend.ptr;

import java.nio.FloatBuffer;
import org.mosaicbert.backend.View;

/**
 * ALiBi attention on the CPU in tiles of {@value #BLOCK} queries by {@value #BLOCK} keys, in FlashAttention's order of
 * work, with OpenBLAS for the products. The forward pass walks a query block's key blocks with an online softmax (a
 * running max and sum per row, the earlier blocks' context rescaled when the max grows) and keeps, per head and row,
 * only the row's max and 1/sum; the backward pass recomputes each tile's probabilities from them. Memory is the
 * state, 2 floats per head and token, plus two tiles per thread: it grows with the tokens, not with length squared.
 *
 * <p>A sequence of at most {@value #BLOCK} tokens is a single tile, computed with the same GEMM shapes and the same
 * roundings as the untiled softmax that kept P: max, exp, a double sum, 1/sum in float32, then P = e·(1/sum) before
 * P·V. Its probabilities, context and gradients are bit for bit those of before. Over several key blocks, the last
 * block is added already normalised (the earlier context scaled by its correction times 1/sum), which is the same
 * arithmetic in the one-block case.
 */
final class TiledAttention {
  /** Queries and keys per tile; 256 keeps MosaicBERT's 128-token sequences (and up to 256) in one tile. */
  static final int BLOCK = 256;

  private final ThreadLocal<Workspace> workspaces;

  /** @param allocate makes an off-heap buffer that its owner frees on close (the backend's bookkeeping) */
  TiledAttention(java.util.function.IntFunction<CpuBuffer> allocate) {
    this.workspaces = ThreadLocal.withInitial(() -> new Workspace(allocate));
  }

  /** The state of one sequence: each head's row max and 1/sum. */
  static long stateFloats(int heads, int seqLen) {
    return 2L * heads * seqLen;
  }

  /** Where head h of the sequence starting at token {@code start} keeps its maxes; its 1/sums follow, len later. */
  private static long stateOffset(int start, int len, int heads, int h) {
    return 2L * ((long) heads * start + (long) h * len);
  }

  /** One thread's tiles (off-heap, for OpenBLAS) and row arrays (on the heap, where the JIT vectorizes loops). */
  private static final class Workspace {
    final CpuBuffer scores;
    final CpuBuffer gradients;
    final float[] row = new float[BLOCK];
    final float[] otherRow = new float[BLOCK];
    final float[] max = new float[BLOCK];
    final double[] sum = new double[BLOCK];
    final float[] ctxScale = new float[BLOCK];
    final float[] dot = new float[BLOCK];

    Workspace(java.util.function.IntFunction<CpuBuffer> allocate) {
      scores = allocate.apply(BLOCK * BLOCK);
      gradients = allocate.apply(BLOCK * BLOCK);
    }
  }

  /** Where one (sequence, head) task's rows are inside the layout. */
  private record Task(int start, int h, int heads, int headDim) {
    int hidden() {
      return heads * headDim;
    }

    /** Row {@code r} of this head's Q (K, V at +hidden, +2·hidden) inside qkv [nnz, 3H]. */
    long qkvRow(int r) {
      return (long) (start + r) * 3 * hidden() + (long) h * headDim;
    }

    /** Row {@code r} of this head's slice of a [nnz, H] tensor. */
    long row(int r) {
      return (long) (start + r) * hidden() + (long) h * headDim;
    }
  }

  /**
   * Query blocks of the sequences, in order: {sequence, first query} pairs, so that the forward pass can spread a few
   * long sequences over the threads as well as many short ones (each query block's work is independent of the
   * others').
   */
  static int[][] queryBlocks(int[] cuSeqlens, int numSeqs) {
    int count = 0;
    for (int b = 0; b < numSeqs; b++) {
      count += (cuSeqlens[b + 1] - cuSeqlens[b] + BLOCK - 1) / BLOCK;
    }
    int[][] blocks = new int[count][];
    int i = 0;
    for (int b = 0; b < numSeqs; b++) {
      for (int q0 = 0; q0 < cuSeqlens[b + 1] - cuSeqlens[b]; q0 += BLOCK) {
        blocks[i++] = new int[] {b, q0};
      }
    }
    return blocks;
  }

  /** The forward pass of the query block at {@code q0} of one (sequence, head). */
  void forward(View ctx, View state, View qkv, int start, int len, int q0, int h, int heads, int headDim,
      float slope) {
    Task t = new Task(start, h, heads, headDim);
    Workspace w = workspaces.get();
    FloatBuffer s = w.scores.floats;
    FloatBuffer ctxFloats = fb(ctx);
    FloatBuffer stateFloats = fb(state);
    long stateAt = state.offset() + stateOffset(start, len, heads, h);
    int ld = 3 * t.hidden();
    float scale = (float) (1.0 / Math.sqrt(headDim));
    int keyBlocks = (len + BLOCK - 1) / BLOCK;
    int bq = Math.min(BLOCK, len - q0);
    for (int kb = 0; kb < keyBlocks; kb++) {
      int k0 = kb * BLOCK;
      int bk = Math.min(BLOCK, len - k0);
      boolean first = kb == 0;
      boolean last = kb == keyBlocks - 1;
      // S = scale·Q·Kᵀ for this tile.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bq, bk, headDim, scale, ptr(qkv.at(t.qkvRow(q0))), ld,
          ptr(qkv.at(t.qkvRow(k0) + t.hidden())), ld, 0f, ptr(w.scores.at(0)), bk);
      for (int i = 0; i < bq; i++) {
        float[] v = w.row;
        s.get(i * bk, v, 0, bk);
        int position = q0 + i;
        float blockMax = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < bk; j++) {
          v[j] = v[j] - slope * Math.abs(position - (k0 + j));
          blockMax = Math.max(blockMax, v[j]);
        }
        float max = first ? blockMax : Math.max(w.max[i], blockMax);
        double sum = 0;
        for (int j = 0; j < bk; j++) {
          float e = (float) Math.exp(v[j] - max);
          v[j] = e;
          sum += e;
        }
        double correction = first ? 0 : Math.exp(w.max[i] - max);
        w.sum[i] = first ? sum : w.sum[i] * correction + sum;
        w.max[i] = max;
        if (last) {
          float inv = (float) (1.0 / w.sum[i]);
          for (int j = 0; j < bk; j++) {
            v[j] *= inv;
          }
          w.ctxScale[i] = (float) (correction * inv);
          stateFloats.put((int) (stateAt + position), max);
          stateFloats.put((int) (stateAt + len + position), inv);
        } else {
          w.ctxScale[i] = (float) correction;
        }
        s.put(i * bk, v, 0, bk);
      }
      if (!first) {
        scaleRows(ctxFloats, ctx.offset() + t.row(q0), t.hidden(), bq, headDim, w.ctxScale);
      }
      // ctx (rescaled) += E·V for this tile; the first tile overwrites.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bq, headDim, bk, 1f, ptr(w.scores.at(0)), bk,
          ptr(qkv.at(t.qkvRow(k0) + 2L * t.hidden())), ld, first ? 0f : 1f, ptr(ctx.at(t.row(q0))), t.hidden());
    }
  }

  private static void scaleRows(FloatBuffer x, long at, int stride, int rows, int width, float[] factors) {
    for (int i = 0; i < rows; i++) {
      int row = (int) (at + (long) i * stride);
      for (int c = 0; c < width; c++) {
        x.put(row + c, x.get(row + c) * factors[i]);
      }
    }
  }

  /**
   * dQ, dK and dV of one (sequence, head), tile by tile. dS = P ⊙ (dP − D) needs D = rowsum(dP ⊙ P) before any of a
   * row's tiles: within one tile that sum is taken over the tile as before (the same bits); over several, it is
   * rowsum(dctx ⊙ ctx), the same quantity (FlashAttention-2's identity), known before the first tile.
   */
  void backward(View dqkv, View dctx, View ctx, View state, View qkv, int start, int len, int h, int heads,
      int headDim, float slope) {
    Task t = new Task(start, h, heads, headDim);
    Workspace w = workspaces.get();
    FloatBuffer s = w.scores.floats;
    FloatBuffer g = w.gradients.floats;
    FloatBuffer stateFloats = fb(state);
    long stateAt = state.offset() + stateOffset(start, len, heads, h);
    int ld = 3 * t.hidden();
    float scale = (float) (1.0 / Math.sqrt(headDim));
    boolean oneTile = len <= BLOCK;
    for (int q0 = 0; q0 < len; q0 += BLOCK) {
      int bq = Math.min(BLOCK, len - q0);
      if (!oneTile) {
        rowDots(w.dot, fb(dctx), dctx.offset() + t.row(q0), fb(ctx), ctx.offset() + t.row(q0), t.hidden(), bq,
            headDim);
      }
      for (int k0 = 0; k0 < len; k0 += BLOCK) {
        int bk = Math.min(BLOCK, len - k0);
        View q = qkv.at(t.qkvRow(q0));
        View k = qkv.at(t.qkvRow(k0) + t.hidden());
        View v = qkv.at(t.qkvRow(k0) + 2L * t.hidden());
        View dc = dctx.at(t.row(q0));
        // P from the forward pass's statistics; dP = dctx·Vᵀ; dV (+)= Pᵀ·dctx.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bq, bk, headDim, scale, ptr(q), ld, ptr(k), ld, 0f,
            ptr(w.scores.at(0)), bk);
        for (int i = 0; i < bq; i++) {
          float[] p = w.row;
          s.get(i * bk, p, 0, bk);
          int position = q0 + i;
          float max = stateFloats.get((int) (stateAt + position));
          float inv = stateFloats.get((int) (stateAt + len + position));
          for (int j = 0; j < bk; j++) {
            p[j] = (float) Math.exp(p[j] - slope * Math.abs(position - (k0 + j)) - max) * inv;
          }
          s.put(i * bk, p, 0, bk);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bq, bk, headDim, 1f, ptr(dc), t.hidden(), ptr(v), ld, 0f,
            ptr(w.gradients.at(0)), bk);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bk, headDim, bq, 1f, ptr(w.scores.at(0)), bk, ptr(dc),
            t.hidden(), q0 == 0 ? 0f : 1f, ptr(dqkv.at(t.qkvRow(k0) + 2L * t.hidden())), ld);
        // dS = P ⊙ (dP − D), in place of dP.
        for (int i = 0; i < bq; i++) {
          float[] p = w.row;
          float[] dp = w.otherRow;
          s.get(i * bk, p, 0, bk);
          g.get(i * bk, dp, 0, bk);
          if (oneTile) {
            double dot = 0;
            for (int j = 0; j < bk; j++) {
              dot += dp[j] * p[j];
            }
            w.dot[i] = (float) dot;
          }
          float d = w.dot[i];
          for (int j = 0; j < bk; j++) {
            dp[j] = p[j] * (dp[j] - d);
          }
          g.put(i * bk, dp, 0, bk);
        }
        // dQ (+)= scale·dS·K ; dK (+)= scale·dSᵀ·Q.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bq, headDim, bk, scale, ptr(w.gradients.at(0)), bk,
            ptr(k), ld, k0 == 0 ? 0f : 1f, ptr(dqkv.at(t.qkvRow(q0))), ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bk, headDim, bq, scale, ptr(w.gradients.at(0)), bk,
            ptr(q), ld, q0 == 0 ? 0f : 1f, ptr(dqkv.at(t.qkvRow(k0) + t.hidden())), ld);
      }
    }
  }

  /** dot[i] = Σ_c a[i, c]·b[i, c] over {@code rows} rows of {@code width} at a common stride. */
  private static void rowDots(float[] dot, FloatBuffer a, long aAt, FloatBuffer b, long bAt, int stride, int rows,
      int width) {
    for (int i = 0; i < rows; i++) {
      int ar = (int) (aAt + (long) i * stride);
      int br = (int) (bAt + (long) i * stride);
      double sum = 0;
      for (int c = 0; c < width; c++) {
        sum += a.get(ar + c) * b.get(br + c);
      }
      dot[i] = (float) sum;
    }
  }
}
