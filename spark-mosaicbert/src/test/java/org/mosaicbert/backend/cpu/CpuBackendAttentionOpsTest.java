package org.mosaicbert.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.mosaicbert.backend.cpu.OpsFixture.U;
import static org.mosaicbert.backend.cpu.OpsFixture.assertClose;
import static org.mosaicbert.backend.cpu.OpsFixture.dot;
import static org.mosaicbert.backend.cpu.OpsFixture.numericGradient;
import static org.mosaicbert.backend.cpu.OpsFixture.toDouble;

import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.View;

/**
 * ALiBi self-attention over unpadded sequences of different lengths (one of a single token), forward against the
 * formula in double and backward against finite differences of it. The slopes are steep enough (0.7 and 0.1 per
 * token) that a missing or misplaced bias would show. TiledAttentionTest covers sequences of several tiles.
 */
class CpuBackendAttentionOpsTest {
  private static final int HEADS = 2;
  private static final int HEAD_DIM = 4;
  private static final int HIDDEN = HEADS * HEAD_DIM;
  private static final float[] SLOPES = {0.7f, 0.1f};
  private static final int[] LENGTHS = {5, 1, 12};
  private static final int[] CU = {0, 5, 6, 18};
  private static final int NNZ = 18;

  /**
   * ctx [nnz, H]: for each sequence and head h, P = softmax(Q·Kᵀ/√d − slope_h·|i − j|) over the sequence's own keys,
   * ctx = P·V. qkv [nnz, 3H] holds Q | K | V, each head-major.
   */
  private static double[] attention(double[] qkv) {
    double[] ctx = new double[NNZ * HIDDEN];
    for (int s = 0; s < LENGTHS.length; s++) {
      for (int h = 0; h < HEADS; h++) {
        for (int i = CU[s]; i < CU[s + 1]; i++) {
          double[] p = new double[LENGTHS[s]];
          double max = Double.NEGATIVE_INFINITY;
          for (int j = CU[s]; j < CU[s + 1]; j++) {
            double score = 0;
            for (int c = 0; c < HEAD_DIM; c++) {
              score += qkv[i * 3 * HIDDEN + h * HEAD_DIM + c] * qkv[j * 3 * HIDDEN + HIDDEN + h * HEAD_DIM + c];
            }
            p[j - CU[s]] = score / Math.sqrt(HEAD_DIM) - SLOPES[h] * Math.abs(i - j);
            max = Math.max(max, p[j - CU[s]]);
          }
          double sum = 0;
          for (int j = 0; j < p.length; j++) {
            p[j] = Math.exp(p[j] - max);
            sum += p[j];
          }
          for (int j = CU[s]; j < CU[s + 1]; j++) {
            for (int c = 0; c < HEAD_DIM; c++) {
              ctx[i * HIDDEN + h * HEAD_DIM + c] += p[j - CU[s]] / sum * qkv[j * 3 * HIDDEN + 2 * HIDDEN + h * HEAD_DIM
                  + c];
            }
          }
        }
      }
    }
    return ctx;
  }

  /** One attention call, forward then backward, on the CPU backend: ctx and dqkv. */
  private static float[][] run(OpsFixture f, float[] qkv, float[] dctx) {
    long stateFloats = 0;
    for (int len : LENGTHS) {
      stateFloats += f.cpu.attentionStateFloats(HEADS, len);
    }
    View q = f.upload(qkv);
    View ctx = f.upload(f.gaussian(NNZ * HIDDEN));
    View state = f.zeros((int) stateFloats);
    f.cpu.attention(ctx, state, q, CU, LENGTHS.length, HEADS, HEAD_DIM, SLOPES);
    View dqkv = f.upload(f.gaussian(NNZ * 3 * HIDDEN));
    f.cpu.attentionBackward(dqkv, f.upload(dctx), ctx, state, q, CU, LENGTHS.length, HEADS, HEAD_DIM, SLOPES);
    return new float[][] {f.download(ctx, NNZ * HIDDEN), f.download(dqkv, NNZ * 3 * HIDDEN)};
  }

  /**
   * Each weight of P is within a few U, relative, of the exact one (a float dot product of 4 terms, exp and 1/sum
   * rounded to float, their product), and ctx is their average of V rows, rounded once per key: 8·U.
   */
  @Test
  void attentionIsTheSoftmaxOfTheScaledScoresMinusSlopeTimesDistanceTimesV() {
    try (OpsFixture f = new OpsFixture(51)) {
      float[] qkv = f.gaussian(NNZ * 3 * HIDDEN);
      float[] ctx = run(f, qkv, f.gaussian(NNZ * HIDDEN))[0];
      assertClose(attention(toDouble(qkv)), ctx, 8 * U, "softmax(Q·Kᵀ/√d − m·|i − j|)·V");
    }
  }

  /**
   * dqkv is the gradient of Σ dctx ⊙ ctx in Q, K and V (written, not added). The backward pass recomputes P from the
   * forward pass's float statistics and sums dS·K, dSᵀ·Q and Pᵀ·dctx over at most 12 rows: 1e-6 (17·U).
   */
  @Test
  void attentionBackwardIsTheGradientOfDctxDotAttentionInQKAndV() {
    try (OpsFixture f = new OpsFixture(52)) {
      float[] qkv = f.gaussian(NNZ * 3 * HIDDEN);
      float[] dctx = f.gaussian(NNZ * HIDDEN);
      float[] dqkv = run(f, qkv, dctx)[1];
      double[] g = toDouble(dctx);
      assertClose(numericGradient(x -> dot(g, attention(x)), toDouble(qkv)), dqkv, 1e-6, "d(Σ dctx ⊙ ctx)/dqkv");
    }
  }

  /** Each head's row max and 1/sum: 2·heads·S floats for a sequence of S tokens, so linear in the tokens. */
  @Test
  void attentionKeepsTwoFloatsOfStatePerHeadAndToken() {
    try (OpsFixture f = new OpsFixture(53)) {
      assertEquals(2L * HEADS * 12, f.cpu.attentionStateFloats(HEADS, 12));
      assertEquals(2L * 12 * 4097, f.cpu.attentionStateFloats(12, 4097));
    }
  }
}
