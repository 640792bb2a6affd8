package org.mosaicbert.backend.cpu;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sgemm;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.LossSum;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.backend.ScoringWeight;
import org.mosaicbert.backend.View;
import org.mosaicbert.random.Hashing;
import org.slf4j.LoggerFactory;

/**
 * The CPU backend: float32 in off-heap buffers, GEMMs through OpenBLAS on the same memory (no copies), the other
 * kernels in Java, split over {@code threads} threads by rows (or by sequence and head for attention).
 */
public final class CpuBackend implements Backend {
  private final int threads;
  private final ForkJoinPool pool;
  private final List<CpuBuffer> buffers = new ArrayList<>();
  private final TiledAttention tiled = new TiledAttention(floats -> track(new CpuBuffer(floats, "attention tile")));
  /** The int8 GEMMs, made at the first int8 weight (loading oneDNN); null until then. */
  private Int8Gemm int8;
  /** Activations rounded to bf16 for a bf16 GEMM: [rows, in], grown as needed. */
  private CpuBuffer bf16Inputs;
  /** Per-thread row buffers: rows are copied in bulk to heap arrays so that the JIT vectorizes the loops over them. */
  private final ThreadLocal<float[][]> rows = ThreadLocal.withInitial(() -> new float[3][0]);

  private float[] row(int which, int n) {
    float[][] r = rows.get();
    if (r[which].length < n) {
      r[which] = new float[n];
    }
    return r[which];
  }

  /** The most threads a backend may have: the most a Java ForkJoinPool, which runs them, takes. */
  public static final int MAX_THREADS = 32_767;

  public CpuBackend(int threads) {
    if (threads < 1 || threads > MAX_THREADS) {
      throw new IllegalArgumentException("threadsPerWorker must be in [1, " + MAX_THREADS + "], got "
          + threads);
    }
    int cores = Runtime.getRuntime().availableProcessors();
    if (threads > cores) {
      LoggerFactory.getLogger(CpuBackend.class).warn("threadsPerWorker {} is more than the {} cores here: the threads "
          + "take turns on them, which is slower than one per core", threads, cores);
    }
    this.threads = threads;
    this.pool = new ForkJoinPool(threads);
    // OpenBLAS runs single-threaded: we split large GEMMs by rows over our own threads (gemm below), and run the
    // many small per-head attention GEMMs side by side; OpenBLAS threads on top of ours would oversubscribe the cores.
    openblas_nolapack.blas_set_num_threads(1);
  }

  /**
   * C[M, N] = alpha·op(A)·op(B) + beta·C (row-major), split by rows of C over the threads when large. op(A) rows are
   * rows of A (no transpose) or columns of A (transposed), so a block of C rows needs only an offset into A.
   */
  private void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, View a, int lda, View b,
      int ldb, float beta, View c, int ldc) {
    int blocks = (long) m * n * k < (1L << 21) ? 1 : Math.min(threads, Math.max(1, m / 16));
    parallel(blocks, (from, to) -> {
      for (int blk = from; blk < to; blk++) {
        int r0 = (int) ((long) m * blk / blocks);
        int r1 = (int) ((long) m * (blk + 1) / blocks);
        View aBlock = transA ? a.at(r0) : a.at((long) r0 * lda);
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, r1 - r0, n,
            k, alpha, ptr(aBlock), lda, ptr(b), ldb, beta, ptr(c.at((long) r0 * ldc)), ldc);
      }
    });
  }

  public int threads() {
    return threads;
  }

  static FloatBuffer fb(View v) {
    return ((CpuBuffer) v.buffer()).floats;
  }

  private static int off(View v) {
    return (int) v.offset();
  }

  /** A pointer to the view's first float, for OpenBLAS. */
  static FloatPointer ptr(View v) {
    return new FloatPointer(((CpuBuffer) v.buffer()).pointer).position(v.offset());
  }

  /** Runs body(from, to) over [0, n) in about 4 chunks per thread. */
  void parallel(int n, RangeBody body) {
    if (n <= 0) {
      return;
    }
    int chunks = Math.min(n, threads * 4);
    if (chunks == 1 || threads == 1) {
      body.run(0, n);
      return;
    }
    pool.submit(() -> IntStream.range(0, chunks).parallel().forEach(c -> {
      long from = (long) n * c / chunks;
      long to = (long) n * (c + 1) / chunks;
      body.run((int) from, (int) to);
    })).join();
  }

  @FunctionalInterface
  interface RangeBody {
    void run(int from, int to);
  }

  /** Every kind is float32 here. */
  @Override
  public Buffer allocate(BufferKind kind, long floats, String name) {
    return track(new CpuBuffer(floats, name));
  }

  private CpuBuffer track(CpuBuffer b) {
    synchronized (buffers) {
      buffers.add(b);
    }
    return b;
  }

  @Override
  public void free(Buffer buffer) {
    synchronized (buffers) {
      if (!buffers.remove(buffer)) {
        throw new IllegalArgumentException("buffer " + buffer.name() + " is not this backend's, or freed already");
      }
    }
    ((CpuBuffer) buffer).free();
  }

  @Override
  public void upload(View dst, float[] src, int srcOffset, int n) {
    fb(dst).put(off(dst), src, srcOffset, n);
  }

  @Override
  public void download(float[] dst, int dstOffset, View src, int n) {
    fb(src).get(off(src), dst, dstOffset, n);
  }

  @Override
  public void zero(View x, long n) {
    FloatBuffer b = fb(x);
    int o = off(x);
    parallel((int) n, (from, to) -> {
      for (int i = from; i < to; i++) {
        b.put(o + i, 0f);
      }
    });
  }

  @Override
  public void copy(View dst, View src, long n) {
    FloatBuffer d = fb(dst);
    FloatBuffer s = fb(src);
    int dof = off(dst);
    int so = off(src);
    parallel((int) n, (from, to) -> {
      for (int i = from; i < to; i++) {
        d.put(dof + i, s.get(so + i));
      }
    });
  }

  @Override
  public void linear(View out, View inp, View weight, View bias, int rows, int in, int outDim) {
    if (rows == 0) {
      return;
    }
    float beta = 0f;
    if (bias != null) {
      FloatBuffer o = fb(out);
      FloatBuffer b = fb(bias);
      int oo = off(out);
      int bo = off(bias);
      float[] biasRow = new float[outDim];
      b.get(bo, biasRow, 0, outDim);
      parallel(rows, (from, to) -> {
        for (int r = from; r < to; r++) {
          o.put(oo + r * outDim, biasRow, 0, outDim);
        }
      });
      beta = 1f;
    }
    gemm(false, true, rows, outDim, in, 1f, inp, in, weight, in, beta, out, outDim);
  }

  @Override
  public void linearBackward(View dinp, boolean accumulate, View dweight, View dbias, View dout, View inp,
      View weight, int rows, int in, int outDim) {
    // No rows: nothing to add to dweight and dbias, and dinp [0, in] has no element to write.
    if (rows == 0) {
      return;
    }
    gemm(true, false, outDim, in, rows, 1f, dout, outDim, inp, in, 1f, dweight, in);
    if (dbias != null) {
      FloatBuffer d = fb(dout);
      FloatBuffer db = fb(dbias);
      int doo = off(dout);
      int dbo = off(dbias);
      parallel(outDim, (from, to) -> {
        for (int c = from; c < to; c++) {
          double s = 0;
          for (int r = 0; r < rows; r++) {
            s += d.get(doo + r * outDim + c);
          }
          db.put(dbo + c, (float) (db.get(dbo + c) + s));
        }
      });
    }
    if (dinp != null) {
      gemm(false, false, rows, in, outDim, 1f, dout, outDim, weight, in, accumulate ? 1f : 0f, dinp, in);
    }
  }

  /** A weight rounded to bf16, kept as float32 values: SGEMM on bf16-rounded operands is a bf16 GEMM's arithmetic. */
  private record Bf16Weight(CpuBuffer values, int in, int outDim) implements ScoringWeight {
    @Override
    public Precision precision() {
      return Precision.BF16;
    }
  }

  @Override
  public ScoringWeight scoringWeight(View weight, int in, int outDim, Precision precision) {
    switch (precision) {
      case BF16 -> {
        CpuBuffer rounded = track(new CpuBuffer((long) in * outDim, "bf16 weight"));
        roundToBf16(new View(rounded, 0), weight, (long) in * outDim);
        return new Bf16Weight(rounded, in, outDim);
      }
      case INT8 -> {
        if (int8 == null) {
          int8 = new Int8Gemm(this);
        }
        return int8.quantize(weight, in, outDim);
      }
      default -> throw new IllegalArgumentException("fp32 layers multiply the parameter itself");
    }
  }

  @Override
  public void linear(View out, View inp, ScoringWeight weight, View bias, int rows) {
    if (rows == 0) {
      return;
    }
    if (weight instanceof Bf16Weight w) {
      long n = (long) rows * w.in();
      if (bf16Inputs == null || bf16Inputs.size() < n) {
        if (bf16Inputs != null) {
          free(bf16Inputs);
        }
        bf16Inputs = track(new CpuBuffer(n, "bf16 activations"));
      }
      View rounded = new View(bf16Inputs, 0);
      roundToBf16(rounded, inp, n);
      linear(out, rounded, new View(w.values(), 0), bias, rows, w.in(), w.outDim());
    } else {
      int8.linear(out, inp, (Int8Gemm.Weight) weight, bias, rows);
    }
  }

  /** dst = src rounded to the nearest bfloat16 (ties to even), over n floats. */
  private void roundToBf16(View dst, View src, long n) {
    FloatBuffer d = fb(dst);
    FloatBuffer s = fb(src);
    int dof = off(dst);
    int so = off(src);
    parallel((int) n, (from, to) -> {
      for (int i = from; i < to; i++) {
        int bits = Float.floatToRawIntBits(s.get(so + i));
        int rounded = (bits + 0x7FFF + ((bits >>> 16) & 1)) & 0xFFFF0000;
        d.put(dof + i, Float.isNaN(s.get(so + i)) ? s.get(so + i) : Float.intBitsToFloat(rounded));
      }
    });
  }

  @Override
  public void embedding(View out, int[] ids, int[] typeIds, View word, View type, int n, int hidden) {
    FloatBuffer o = fb(out);
    FloatBuffer w = fb(word);
    FloatBuffer t = fb(type);
    int oo = off(out);
    int wo = off(word);
    int to0 = off(type);
    parallel(n, (from, to) -> {
      for (int i = from; i < to; i++) {
        int wr = wo + ids[i] * hidden;
        int tr = to0 + typeIds[i] * hidden;
        for (int c = 0; c < hidden; c++) {
          o.put(oo + i * hidden + c, w.get(wr + c) + t.get(tr + c));
        }
      }
    });
  }

  @Override
  public void embeddingBackward(View dword, View dtype, View dout, int[] ids, int[] typeIds, int n, int hidden,
      int padId) {
    FloatBuffer dw = fb(dword);
    FloatBuffer dt = fb(dtype);
    FloatBuffer d = fb(dout);
    int dwo = off(dword);
    int dto = off(dtype);
    int doo = off(dout);
    // Rows of one token id may repeat, so split by column: each thread owns a slice of every row.
    parallel(hidden, (from, to) -> {
      for (int i = 0; i < n; i++) {
        int src = doo + i * hidden;
        int tr = dto + typeIds[i] * hidden;
        for (int c = from; c < to; c++) {
          dt.put(tr + c, dt.get(tr + c) + d.get(src + c));
        }
        if (ids[i] == padId) {
          continue;
        }
        int wr = dwo + ids[i] * hidden;
        for (int c = from; c < to; c++) {
          dw.put(wr + c, dw.get(wr + c) + d.get(src + c));
        }
      }
    });
  }

  @Override
  public void add(View out, View a, View b, long n) {
    FloatBuffer o = fb(out);
    FloatBuffer x = fb(a);
    FloatBuffer y = fb(b);
    int oo = off(out);
    int xo = off(a);
    int yo = off(b);
    parallel((int) n, (from, to) -> {
      for (int i = from; i < to; i++) {
        o.put(oo + i, x.get(xo + i) + y.get(yo + i));
      }
    });
  }

  @Override
  public void layerNorm(View out, View mean, View rstd, View inp, View w, View b, int n, int hidden, float eps) {
    FloatBuffer o = fb(out);
    FloatBuffer x = fb(inp);
    FloatBuffer wb = fb(w);
    FloatBuffer bb = fb(b);
    FloatBuffer mb = fb(mean);
    FloatBuffer rb = fb(rstd);
    int oo = off(out);
    int xo = off(inp);
    int wo = off(w);
    int bo = off(b);
    int mo = off(mean);
    int ro = off(rstd);
    parallel(n, (from, to) -> {
      for (int r = from; r < to; r++) {
        int row = xo + r * hidden;
        double sum = 0;
        for (int c = 0; c < hidden; c++) {
          sum += x.get(row + c);
        }
        double mu = sum / hidden;
        double var = 0;
        for (int c = 0; c < hidden; c++) {
          double dx = x.get(row + c) - mu;
          var += dx * dx;
        }
        float rs = (float) (1.0 / Math.sqrt(var / hidden + eps));
        float m = (float) mu;
        mb.put(mo + r, m);
        rb.put(ro + r, rs);
        int orow = oo + r * hidden;
        for (int c = 0; c < hidden; c++) {
          o.put(orow + c, (x.get(row + c) - m) * rs * wb.get(wo + c) + bb.get(bo + c));
        }
      }
    });
  }

  @Override
  public void layerNormBackward(View dinp, View dw, View db, View dout, View inp, View w, View mean, View rstd,
      int n, int hidden) {
    FloatBuffer di = fb(dinp);
    FloatBuffer d = fb(dout);
    FloatBuffer x = fb(inp);
    FloatBuffer wb = fb(w);
    FloatBuffer mb = fb(mean);
    FloatBuffer rb = fb(rstd);
    int dio = off(dinp);
    int doo = off(dout);
    int xo = off(inp);
    int wo = off(w);
    int mo = off(mean);
    int ro = off(rstd);
    int chunks = Math.max(1, Math.min(n, threads * 4));
    double[][] dwPart = new double[chunks][hidden];
    double[][] dbPart = new double[chunks][hidden];
    parallel(chunks, (cf, ct) -> {
      for (int chunk = cf; chunk < ct; chunk++) {
        double[] dwp = dwPart[chunk];
        double[] dbp = dbPart[chunk];
        int from = (int) ((long) n * chunk / chunks);
        int to = (int) ((long) n * (chunk + 1) / chunks);
        for (int r = from; r < to; r++) {
          int row = r * hidden;
          float m = mb.get(mo + r);
          float rs = rb.get(ro + r);
          double sumG = 0;
          double sumGX = 0;
          for (int c = 0; c < hidden; c++) {
            float xhat = (x.get(xo + row + c) - m) * rs;
            float g = d.get(doo + row + c);
            dwp[c] += g * xhat;
            dbp[c] += g;
            float gw = g * wb.get(wo + c);
            sumG += gw;
            sumGX += gw * xhat;
          }
          float meanG = (float) (sumG / hidden);
          float meanGX = (float) (sumGX / hidden);
          for (int c = 0; c < hidden; c++) {
            float xhat = (x.get(xo + row + c) - m) * rs;
            float gw = d.get(doo + row + c) * wb.get(wo + c);
            di.put(dio + row + c, (gw - meanG - xhat * meanGX) * rs);
          }
        }
      }
    });
    FloatBuffer dwb = fb(dw);
    FloatBuffer dbb = fb(db);
    int dwo = off(dw);
    int dbo = off(db);
    for (int c = 0; c < hidden; c++) {
      double sw = 0;
      double sb = 0;
      for (int k = 0; k < chunks; k++) {
        sw += dwPart[k][c];
        sb += dbPart[k][c];
      }
      dwb.put(dwo + c, (float) (dwb.get(dwo + c) + sw));
      dbb.put(dbo + c, (float) (dbb.get(dbo + c) + sb));
    }
  }

  @Override
  public void dropout(View x, int rows, int width, float p, long[] rowKeys, long site) {
    if (p <= 0f) {
      return;
    }
    FloatBuffer b = fb(x);
    int o = off(x);
    float keepScale = 1f / (1f - p);
    parallel(rows, (from, to) -> {
      float[] v = row(0, width);
      for (int r = from; r < to; r++) {
        long key = Hashing.key(rowKeys[r], site);
        int row = o + r * width;
        b.get(row, v, 0, width);
        for (int c = 0; c < width; c++) {
          v[c] = Hashing.uniform(key, c) < p ? 0f : v[c] * keepScale;
        }
        b.put(row, v, 0, width);
      }
    });
  }

  @Override
  public void geglu(View out, View g, int n, int intermediate) {
    FloatBuffer o = fb(out);
    FloatBuffer gb = fb(g);
    int oo = off(out);
    int go = off(g);
    parallel(n, (from, to) -> {
      float[] gate = row(0, intermediate);
      float[] lin = row(1, intermediate);
      for (int r = from; r < to; r++) {
        int grow = go + r * 2 * intermediate;
        gb.get(grow, gate, 0, intermediate);
        gb.get(grow + intermediate, lin, 0, intermediate);
        for (int c = 0; c < intermediate; c++) {
          gate[c] = Erf.gelu(gate[c]) * lin[c];
        }
        o.put(oo + r * intermediate, gate, 0, intermediate);
      }
    });
  }

  @Override
  public void gegluBackward(View dg, View dout, View g, int n, int intermediate) {
    FloatBuffer dgb = fb(dg);
    FloatBuffer d = fb(dout);
    FloatBuffer gb = fb(g);
    int dgo = off(dg);
    int doo = off(dout);
    int go = off(g);
    parallel(n, (from, to) -> {
      float[] gate = row(0, intermediate);
      float[] lin = row(1, intermediate);
      float[] dm = row(2, intermediate);
      for (int r = from; r < to; r++) {
        int grow = go + r * 2 * intermediate;
        gb.get(grow, gate, 0, intermediate);
        gb.get(grow + intermediate, lin, 0, intermediate);
        d.get(doo + r * intermediate, dm, 0, intermediate);
        for (int c = 0; c < intermediate; c++) {
          float x = gate[c];
          float cdf = 0.5f * (1f + Erf.erf(x * 0.70710678f));
          float pdf = 0.39894228f * (float) Math.exp(-0.5f * x * x);
          float dmc = dm[c];
          gate[c] = dmc * lin[c] * (cdf + x * pdf); // d gate
          lin[c] = dmc * x * cdf; // d lin
        }
        int dgrow = dgo + r * 2 * intermediate;
        dgb.put(dgrow, gate, 0, intermediate);
        dgb.put(dgrow + intermediate, lin, 0, intermediate);
      }
    });
  }

  @Override
  public void gelu(View out, View inp, long n) {
    FloatBuffer o = fb(out);
    FloatBuffer x = fb(inp);
    int oo = off(out);
    int xo = off(inp);
    parallel((int) n, (from, to) -> {
      for (int i = from; i < to; i++) {
        o.put(oo + i, Erf.gelu(x.get(xo + i)));
      }
    });
  }

  @Override
  public void geluBackward(View dinp, View dout, View inp, long n) {
    FloatBuffer di = fb(dinp);
    FloatBuffer d = fb(dout);
    FloatBuffer x = fb(inp);
    int dio = off(dinp);
    int doo = off(dout);
    int xo = off(inp);
    parallel((int) n, (from, to) -> {
      for (int i = from; i < to; i++) {
        di.put(dio + i, d.get(doo + i) * Erf.geluGrad(x.get(xo + i)));
      }
    });
  }

  @Override
  public void tanh(View out, View inp, long n) {
    FloatBuffer o = fb(out);
    FloatBuffer x = fb(inp);
    int oo = off(out);
    int xo = off(inp);
    for (int i = 0; i < n; i++) {
      o.put(oo + i, (float) Math.tanh(x.get(xo + i)));
    }
  }

  @Override
  public void tanhBackward(View dinp, View dout, View out, long n) {
    FloatBuffer di = fb(dinp);
    FloatBuffer d = fb(dout);
    FloatBuffer y = fb(out);
    int dio = off(dinp);
    int doo = off(dout);
    int yo = off(out);
    for (int i = 0; i < n; i++) {
      float t = y.get(yo + i);
      di.put(dio + i, d.get(doo + i) * (1f - t * t));
    }
  }

  /** Each head's row max and 1/sum: 2·heads·S floats per sequence ({@link TiledAttention}). */
  @Override
  public long attentionStateFloats(int heads, int seqLen) {
    return TiledAttention.stateFloats(heads, seqLen);
  }

  /**
   * In tiles ({@link TiledAttention}), one task per query block and head; {@code state} keeps the row statistics.
   */
  @Override
  public void attention(View ctx, View state, View qkv, int[] cuSeqlens, int numSeqs, int heads, int headDim,
      float[] slopes) {
    int[][] blocks = TiledAttention.queryBlocks(cuSeqlens, numSeqs);
    parallel(blocks.length * heads, (from, to) -> {
      for (int task = from; task < to; task++) {
        int b = blocks[task / heads][0];
        int h = task % heads;
        tiled.forward(ctx, state, qkv, cuSeqlens[b], cuSeqlens[b + 1] - cuSeqlens[b], blocks[task / heads][1], h,
            heads, headDim, slopes[h]);
      }
    });
  }

  /** Recomputes each tile's P from the row statistics in {@code state}; ctx is read for sequences of several tiles. */
  @Override
  public void attentionBackward(View dqkv, View dctx, View ctx, View state, View qkv, int[] cuSeqlens, int numSeqs,
      int heads, int headDim, float[] slopes) {
    parallel(numSeqs * heads, (from, to) -> {
      for (int task = from; task < to; task++) {
        int b = task / heads;
        int h = task % heads;
        tiled.backward(dqkv, dctx, ctx, state, qkv, cuSeqlens[b], cuSeqlens[b + 1] - cuSeqlens[b], h, heads, headDim,
            slopes[h]);
      }
    });
  }

  @Override
  public void gatherRows(View out, View inp, int[] rows, int width) {
    FloatBuffer o = fb(out);
    FloatBuffer x = fb(inp);
    int oo = off(out);
    int xo = off(inp);
    parallel(rows.length, (from, to) -> {
      for (int i = from; i < to; i++) {
        int src = xo + rows[i] * width;
        int dst = oo + i * width;
        for (int c = 0; c < width; c++) {
          o.put(dst + c, x.get(src + c));
        }
      }
    });
  }

  @Override
  public void scatterAddRows(View out, View inp, int[] rows, int width) {
    FloatBuffer o = fb(out);
    FloatBuffer x = fb(inp);
    int oo = off(out);
    int xo = off(inp);
    for (int i = 0; i < rows.length; i++) {
      int dst = oo + rows[i] * width;
      int src = xo + i * width;
      for (int c = 0; c < width; c++) {
        o.put(dst + c, o.get(dst + c) + x.get(src + c));
      }
    }
  }

  @Override
  public LossSum crossEntropy(View probs, View lse, View logits, int[] labels, int rows, int classes) {
    FloatBuffer pr = fb(probs);
    FloatBuffer ls = fb(lse);
    FloatBuffer lg = fb(logits);
    int po = off(probs);
    int so = off(lse);
    int lo = off(logits);
    double[] losses = new double[rows];
    boolean[] hits = new boolean[rows];
    parallel(rows, (from, to) -> {
      for (int r = from; r < to; r++) {
        int row = r * classes;
        float max = Float.NEGATIVE_INFINITY;
        int argmax = 0;
        for (int c = 0; c < classes; c++) {
          float v = lg.get(lo + row + c);
          if (v > max) {
            max = v;
            argmax = c;
          }
        }
        double sum = 0;
        for (int c = 0; c < classes; c++) {
          sum += Math.exp(lg.get(lo + row + c) - max);
        }
        double logSum = Math.log(sum) + max;
        ls.put(so + r, (float) logSum);
        losses[r] = logSum - lg.get(lo + row + labels[r]);
        hits[r] = argmax == labels[r];
        for (int c = 0; c < classes; c++) {
          pr.put(po + row + c, (float) Math.exp(lg.get(lo + row + c) - logSum));
        }
      }
    });
    return LossSum.ofRows(rows, r -> losses[r], r -> hits[r]);
  }

  /** From the probs; the logits and lse are not needed. */
  @Override
  public void crossEntropyBackward(View dlogits, View probs, View lse, View logits, int[] labels, int rows,
      int classes, float scale) {
    FloatBuffer d = fb(dlogits);
    FloatBuffer pr = fb(probs);
    int dlo = off(dlogits);
    int po = off(probs);
    parallel(rows, (from, to) -> {
      for (int r = from; r < to; r++) {
        int row = r * classes;
        for (int c = 0; c < classes; c++) {
          float g = pr.get(po + row + c) - (c == labels[r] ? 1f : 0f);
          d.put(dlo + row + c, g * scale);
        }
      }
    });
  }

  /** sumOfSquares adds blocks of this many floats each on its own, then the blocks in order: any thread count. */
  private static final int SUM_BLOCK = 1 << 16;

  @Override
  public double sumOfSquares(View x, long n) {
    FloatBuffer b = fb(x);
    int o = off(x);
    int blocks = (int) ((n + SUM_BLOCK - 1) / SUM_BLOCK);
    double[] partials = new double[blocks];
    parallel(blocks, (from, to) -> {
      for (int block = from; block < to; block++) {
        long end = Math.min(n, (long) (block + 1) * SUM_BLOCK);
        double sum = 0;
        for (int i = block * SUM_BLOCK; i < end; i++) {
          double v = b.get(o + i);
          sum += v * v;
        }
        partials[block] = sum;
      }
    });
    double sum = 0;
    for (double partial : partials) {
      sum += partial;
    }
    return sum;
  }

  @Override
  public void adamw(View params, View grads, View m, View v, long n, float lr, float beta1, float beta2, float eps,
      float decay, int step) {
    FloatBuffer p = fb(params);
    FloatBuffer g = fb(grads);
    FloatBuffer mb = fb(m);
    FloatBuffer vb = fb(v);
    int po = off(params);
    int go = off(grads);
    int mo = off(m);
    int vo = off(v);
    float stepSize = (float) (lr / (1 - Math.pow(beta1, step)));
    float sqrtBias2 = (float) Math.sqrt(1 - Math.pow(beta2, step));
    float keep = 1f - decay;
    parallel((int) n, (from, to) -> {
      for (int i = from; i < to; i++) {
        float gi = g.get(go + i);
        float mi = beta1 * mb.get(mo + i) + (1 - beta1) * gi;
        float vi = beta2 * vb.get(vo + i) + (1 - beta2) * gi * gi;
        mb.put(mo + i, mi);
        vb.put(vo + i, vi);
        float pi = p.get(po + i) * keep;
        p.put(po + i, pi - stepSize * mi / ((float) Math.sqrt(vi) / sqrtBias2 + eps));
      }
    });
  }

  @Override
  public void close() {
    if (int8 != null) {
      int8.close();
    }
    synchronized (buffers) {
      buffers.forEach(CpuBuffer::free);
      buffers.clear();
    }
    pool.shutdown();
  }
}
