package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.LossSum;
import org.mosaicbert.backend.View;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.AlibiSlopes;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.model.RandomBatches;
import org.mosaicbert.model.UnpaddedBatch;

/**
 * CudaBackend against CpuBackend, op by op, for a whole forward/backward pass and on the golden vectors, with bf16
 * tolerances. On a machine with a GPU it runs on the GPU ({@link CudaDevice}; scripts/gpu-check.sh); elsewhere on the
 * {@link EmulatedDevice}, which runs the same kernel files on the CPU, so CudaBackend's host code and every kernel are
 * checked on every build (not the hardware, NVRTC or cuBLAS). Skipped when there is neither a GPU nor g++.
 *
 * <p>Inputs are rounded to bf16 before the CPU sees them, so that both backends start from the same values and only
 * the compute precision differs. Every comparison prints a line (max abs, relative Frobenius error) to stderr.
 */
class CudaBackendParityTest {
  /** Relative Frobenius error allowed for one bf16 op against float32. */
  private static final double OP_TOL = 1.5e-2;

  private static CudaBackend gpu;
  private static CpuBackend cpu;

  /** A CudaBackend on the GPU when there is one, else on the emulated device. */
  static CudaBackend newBackend(long arenaBytes) {
    return CudaProbe.available() ? new CudaBackend(0, arenaBytes) : new CudaBackend(new EmulatedDevice(), arenaBytes);
  }

  @BeforeAll
  static void open() {
    CudaProbe.Result probe = CudaProbe.probe();
    assumeTrue(probe.available() || EmulatedDevice.compiler() != null, "skipping the CUDA parity suite: there is "
        + probe.describe() + ", and no g++ to build the emulated device");
    System.err.println("CudaBackendParityTest on " + (probe.available() ? probe.describe()
        : "the emulated device (the kernel files on the CPU; " + probe.describe() + ")"));
    gpu = newBackend(1L << 30);
    cpu = new CpuBackend(4);
  }

  @AfterAll
  static void close() {
    if (gpu != null) {
      gpu.close();
    }
    if (cpu != null) {
      cpu.close();
    }
  }

  // ---------------------------------------------------------------------------------------------------------------

  static float bf16(float x) {
    int bits = Float.floatToRawIntBits(x);
    if ((bits & 0x7f800000) == 0x7f800000) {
      return x;
    }
    bits += 0x7fff + ((bits >>> 16) & 1);
    return Float.intBitsToFloat(bits & 0xffff0000);
  }

  static float[] random(SplittableRandom rnd, int n, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = bf16((float) (rnd.nextGaussian() * scale));
    }
    return a;
  }

  /** A tensor on both backends: the same values in a buffer of the same kind (the kind picks the GPU's storage). */
  record Pair(View cpu, View gpu, int n) {
    float[] cpuValues() {
      float[] a = new float[n];
      CudaBackendParityTest.cpu.download(a, 0, cpu, n);
      return a;
    }

    float[] gpuValues() {
      float[] a = new float[n];
      CudaBackendParityTest.gpu.download(a, 0, gpu, n);
      return a;
    }

    float[] gpuFloat32() {
      float[] a = new float[n];
      CudaBackendParityTest.gpu.downloadFloat32(a, 0, gpu, n);
      return a;
    }
  }

  static Pair pair(BufferKind kind, int n, float[] values) {
    View c = cpu.allocate(kind, Math.max(n, 1), kind.name()).at(0);
    View g = gpu.allocate(kind, Math.max(n, 1), kind.name()).at(0);
    if (values != null) {
      cpu.upload(c, values, 0, n);
      gpu.upload(g, values, 0, n);
    }
    return new Pair(c, g, n);
  }

  static double relFrobenius(float[] actual, float[] expected) {
    double err = 0;
    double ref = 0;
    for (int i = 0; i < expected.length; i++) {
      err += ((double) actual[i] - expected[i]) * ((double) actual[i] - expected[i]);
      ref += (double) expected[i] * expected[i];
    }
    return ref == 0 ? Math.sqrt(err) : Math.sqrt(err / ref);
  }

  static void close(String what, float[] actual, float[] expected, double tol, List<String> failures) {
    double maxAbs = 0;
    for (int i = 0; i < expected.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(actual[i] - expected[i]));
    }
    double rel = relFrobenius(actual, expected);
    boolean ok = rel <= tol && !Double.isNaN(rel);
    System.err.printf("%-48s max abs %10.3e  rel frob %10.3e  (tol %.1e) %s%n", what, maxAbs, rel, tol,
        ok ? "ok" : "FAIL");
    if (!ok) {
      failures.add(what + ": rel frob " + rel);
    }
  }

  static void close(String what, Pair p, double tol, List<String> failures) {
    close(what, p.gpuValues(), p.cpuValues(), tol, failures);
  }

  // ---------------------------------------------------------------------------------------------------------------

  @Test
  void linearAndItsBackward() {
    SplittableRandom rnd = new SplittableRandom(1);
    List<String> failures = new ArrayList<>();
    int rows = 77;
    int in = 128;
    int out = 384;
    Pair x = pair(BufferKind.ACTIVATIONS, rows * in, random(rnd, rows * in, 1));
    Pair w = pair(BufferKind.PARAMETERS, out * in + out, random(rnd, out * in + out, 0.05));
    Pair y = pair(BufferKind.ACTIVATIONS, rows * out, null);
    View cb = w.cpu().at((long) out * in);
    View gb = w.gpu().at((long) out * in);
    cpu.linear(y.cpu(), x.cpu(), w.cpu(), cb, rows, in, out);
    gpu.linear(y.gpu(), x.gpu(), w.gpu(), gb, rows, in, out);
    close("linear (bias epilogue)", y, OP_TOL, failures);
    // Weight and bias 8 bytes off 16-byte alignment, as a vocabulary that is not a multiple of 8 leaves the pooler and
    // classifier: the heuristic is told, and the bias is added by a kernel instead of the epilogue.
    Pair shifted = pair(BufferKind.PARAMETERS, out * in + out + 4, random(rnd, out * in + out + 4, 0.05));
    View cw = shifted.cpu().at(4);
    View gw = shifted.gpu().at(4);
    cpu.linear(y.cpu(), x.cpu(), cw, cw.at((long) out * in), rows, in, out);
    gpu.linear(y.gpu(), x.gpu(), gw, gw.at((long) out * in), rows, in, out);
    close("linear (misaligned weight and bias)", y, OP_TOL, failures);
    Pair dy = pair(BufferKind.ACTIVATIONS, rows * out, random(rnd, rows * out, 1));
    Pair dx = pair(BufferKind.ACTIVATIONS, rows * in, random(rnd, rows * in, 1));
    Pair dw = pair(BufferKind.GRADIENTS, out * in + out, random(rnd, out * in + out, 0.1));
    cpu.linearBackward(dx.cpu(), true, dw.cpu(), dw.cpu().at((long) out * in), dy.cpu(), x.cpu(), w.cpu(), rows, in,
        out);
    gpu.linearBackward(dx.gpu(), true, dw.gpu(), dw.gpu().at((long) out * in), dy.gpu(), x.gpu(), w.gpu(), rows, in,
        out);
    close("linearBackward dinp (accumulate)", dx, OP_TOL, failures);
    close("linearBackward dweight and dbias (+=)", dw, OP_TOL, failures);
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  @Test
  void layerNormGeluGegluTanhAndTheirBackward() {
    SplittableRandom rnd = new SplittableRandom(2);
    List<String> failures = new ArrayList<>();
    int n = 53;
    int h = 768;
    Pair x = pair(BufferKind.ACTIVATIONS, n * h, random(rnd, n * h, 2));
    Pair wb = pair(BufferKind.PARAMETERS, 2 * h, random(rnd, 2 * h, 0.5));
    Pair y = pair(BufferKind.ACTIVATIONS, n * h, null);
    Pair stats = pair(BufferKind.ACTIVATIONS, 2 * n, null);
    cpu.layerNorm(y.cpu(), stats.cpu(), stats.cpu().at(n), x.cpu(), wb.cpu(), wb.cpu().at(h), n, h, 1e-12f);
    gpu.layerNorm(y.gpu(), stats.gpu(), stats.gpu().at(n), x.gpu(), wb.gpu(), wb.gpu().at(h), n, h, 1e-12f);
    close("layerNorm", y, OP_TOL, failures);
    close("layerNorm mean, rstd (float32)", stats.gpuFloat32(), stats.cpuValues(), 1e-3, failures);
    Pair dy = pair(BufferKind.ACTIVATIONS, n * h, random(rnd, n * h, 1));
    Pair dx = pair(BufferKind.ACTIVATIONS, n * h, null);
    Pair dwb = pair(BufferKind.GRADIENTS, 2 * h, null);
    cpu.layerNormBackward(dx.cpu(), dwb.cpu(), dwb.cpu().at(h), dy.cpu(), x.cpu(), wb.cpu(), stats.cpu(),
        stats.cpu().at(n), n, h);
    gpu.layerNormBackward(dx.gpu(), dwb.gpu(), dwb.gpu().at(h), dy.gpu(), x.gpu(), wb.gpu(), stats.gpu(),
        stats.gpu().at(n), n, h);
    close("layerNormBackward dinp", dx, OP_TOL, failures);
    close("layerNormBackward dweight, dbias", dwb, OP_TOL, failures);

    int inter = 256;
    Pair g = pair(BufferKind.ACTIVATIONS, n * 2 * inter, random(rnd, n * 2 * inter, 1.5));
    Pair o = pair(BufferKind.ACTIVATIONS, n * inter, null);
    cpu.geglu(o.cpu(), g.cpu(), n, inter);
    gpu.geglu(o.gpu(), g.gpu(), n, inter);
    close("geglu", o, OP_TOL, failures);
    Pair dout = pair(BufferKind.ACTIVATIONS, n * inter, random(rnd, n * inter, 1));
    Pair dg = pair(BufferKind.ACTIVATIONS, n * 2 * inter, null);
    cpu.gegluBackward(dg.cpu(), dout.cpu(), g.cpu(), n, inter);
    gpu.gegluBackward(dg.gpu(), dout.gpu(), g.gpu(), n, inter);
    close("gegluBackward", dg, OP_TOL, failures);
    cpu.gelu(o.cpu(), dout.cpu(), (long) n * inter);
    gpu.gelu(o.gpu(), dout.gpu(), (long) n * inter);
    close("gelu", o, OP_TOL, failures);
    cpu.tanh(o.cpu(), dout.cpu(), (long) n * inter);
    gpu.tanh(o.gpu(), dout.gpu(), (long) n * inter);
    close("tanh", o, OP_TOL, failures);

    long[] keys = new long[n];
    for (int r = 0; r < n; r++) {
      keys[r] = rnd.nextLong();
    }
    cpu.dropout(dout.cpu(), n, inter, 0.1f, keys, 5);
    gpu.dropout(dout.gpu(), n, inter, 0.1f, keys, 5);
    float[] c = dout.cpuValues();
    float[] gv = dout.gpuValues();
    int maskDiffers = 0;
    for (int i = 0; i < c.length; i++) {
      if ((c[i] == 0) != (gv[i] == 0)) {
        maskDiffers++;
      }
    }
    System.err.println("dropout: mask differs at " + maskDiffers + " of " + c.length);
    if (maskDiffers > 0) {
      failures.add("dropout mask differs at " + maskDiffers + " elements");
    }
    close("dropout values", dout, OP_TOL, failures);
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  /** The post-LN block end, fused into one kernel each way on CUDA, against the CPU's three passes. */
  @Test
  void dropoutResidualLayerNormAndItsBackward() {
    SplittableRandom rnd = new SplittableRandom(7);
    List<String> failures = new ArrayList<>();
    int n = 37;
    int h = 256;
    long[] keys = new long[n];
    for (int r = 0; r < n; r++) {
      keys[r] = rnd.nextLong();
    }
    for (float p : new float[] {0f, 0.1f}) {
      String what = "dropoutResidualLayerNorm, p " + p + ": ";
      Pair x = pair(BufferKind.ACTIVATIONS, n * h, random(rnd, n * h, 2));
      Pair residual = pair(BufferKind.ACTIVATIONS, n * h, random(rnd, n * h, 1));
      Pair wb = pair(BufferKind.PARAMETERS, 2 * h, random(rnd, 2 * h, 0.5));
      Pair y = pair(BufferKind.ACTIVATIONS, n * h, null);
      Pair stats = pair(BufferKind.ACTIVATIONS, 2 * n, null);
      cpu.dropoutResidualLayerNorm(y.cpu(), stats.cpu(), stats.cpu().at(n), x.cpu(), residual.cpu(), wb.cpu(),
          wb.cpu().at(h), n, h, 1e-12f, p, keys, 9);
      gpu.dropoutResidualLayerNorm(y.gpu(), stats.gpu(), stats.gpu().at(n), x.gpu(), residual.gpu(), wb.gpu(),
          wb.gpu().at(h), n, h, 1e-12f, p, keys, 9);
      close(what + "x (dropout + residual)", x, OP_TOL, failures);
      close(what + "out", y, OP_TOL, failures);
      Pair dy = pair(BufferKind.ACTIVATIONS, n * h, random(rnd, n * h, 1));
      Pair dResidual = pair(BufferKind.ACTIVATIONS, n * h, null);
      Pair dBranch = pair(BufferKind.ACTIVATIONS, n * h, null);
      Pair dwb = pair(BufferKind.GRADIENTS, 2 * h, null);
      cpu.dropoutResidualLayerNormBackward(dResidual.cpu(), dBranch.cpu(), dwb.cpu(), dwb.cpu().at(h), dy.cpu(),
          x.cpu(), wb.cpu(), stats.cpu(), stats.cpu().at(n), n, h, p, keys, 9);
      gpu.dropoutResidualLayerNormBackward(dResidual.gpu(), dBranch.gpu(), dwb.gpu(), dwb.gpu().at(h), dy.gpu(),
          x.gpu(), wb.gpu(), stats.gpu(), stats.gpu().at(n), n, h, p, keys, 9);
      close(what + "dResidual", dResidual, OP_TOL, failures);
      close(what + "dBranch", dBranch, OP_TOL, failures);
      close(what + "dweight, dbias", dwb, OP_TOL, failures);
    }
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  @Test
  void attentionForwardAndBackwardOverUnpaddedSequences() {
    List<String> failures = new ArrayList<>();
    // Head dimension 64 (attention.cu): a 1-token sequence, a full tile, one past it, an empty sequence, two tiles and
    // one past them; keys past a sequence's end must be masked and never read from the next sequence. Then 16 (the
    // golden vectors' shape) and 32 (attention_small.cu).
    attention(64, 3, new int[] {1, 64, 65, 0, 129, 17}, 3, failures);
    attention(16, 4, new int[] {24, 17, 9}, 1, failures);
    attention(32, 3, new int[] {1, 0, 70, 129, 5}, 2, failures);
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  /**
   * One head over one sequence of 2,048 tokens (32 key tiles per query tile, MosaicBERT-Base's longest published
   * training length): the online softmax over many tiles, and the host's grid for a long sequence.
   */
  @Test
  void attentionOverOneSequenceOf2048Tokens() {
    List<String> failures = new ArrayList<>();
    attention(64, 1, new int[] {2048}, 6, failures);
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  private static void attention(int d, int heads, int[] lengths, long seed, List<String> failures) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int h = heads * d;
    int[] cu = new int[lengths.length + 1];
    long cpuState = 0;
    long gpuState = 0;
    for (int b = 0; b < lengths.length; b++) {
      cu[b + 1] = cu[b] + lengths[b];
      cpuState += cpu.attentionStateFloats(heads, lengths[b]);
      gpuState += gpu.attentionStateFloats(heads, lengths[b]);
    }
    int nnz = cu[lengths.length];
    float[] slopes = AlibiSlopes.of(heads);
    String what = "attention, head dim " + d + ", lengths " + java.util.Arrays.toString(lengths) + ": ";
    Pair qkv = pair(BufferKind.ACTIVATIONS, nnz * 3 * h, random(rnd, nnz * 3 * h, 1));
    Pair ctx = pair(BufferKind.ACTIVATIONS, nnz * h, null);
    View cpuProbs = cpu.allocate(BufferKind.ACTIVATIONS, Math.max(1, cpuState), "probs").at(0);
    View gpuLse = gpu.allocate(BufferKind.ACTIVATIONS, Math.max(1, gpuState), "lse").at(0);
    cpu.attention(ctx.cpu(), cpuProbs, qkv.cpu(), cu, lengths.length, heads, d, slopes);
    gpu.attention(ctx.gpu(), gpuLse, qkv.gpu(), cu, lengths.length, heads, d, slopes);
    close(what + "ctx", ctx, OP_TOL, failures);
    Pair dctx = pair(BufferKind.ACTIVATIONS, nnz * h, random(rnd, nnz * h, 1));
    Pair dqkv = pair(BufferKind.ACTIVATIONS, nnz * 3 * h, null);
    cpu.attentionBackward(dqkv.cpu(), dctx.cpu(), ctx.cpu(), cpuProbs, qkv.cpu(), cu, lengths.length, heads, d,
        slopes);
    gpu.attentionBackward(dqkv.gpu(), dctx.gpu(), ctx.gpu(), gpuLse, qkv.gpu(), cu, lengths.length, heads, d,
        slopes);
    float[] got = dqkv.gpuValues();
    float[] want = dqkv.cpuValues();
    for (int third = 0; third < 3; third++) {
      float[] g = new float[nnz * h];
      float[] w = new float[nnz * h];
      for (int r = 0; r < nnz; r++) {
        System.arraycopy(got, r * 3 * h + third * h, g, r * h, h);
        System.arraycopy(want, r * 3 * h + third * h, w, r * h, h);
      }
      close(what + "d" + "qkv".charAt(third), g, w, OP_TOL, failures);
    }
  }

  @Test
  void crossEntropyEmbeddingRowsAndAdamW() {
    SplittableRandom rnd = new SplittableRandom(4);
    List<String> failures = new ArrayList<>();
    int rows = 41;
    int v = 30528;
    int[] labels = new int[rows];
    for (int r = 0; r < rows; r++) {
      labels[r] = rnd.nextInt(v);
    }
    Pair logits = pair(BufferKind.ACTIVATIONS, rows * v, random(rnd, rows * v, 3));
    Pair probs = pair(BufferKind.ACTIVATIONS, rows * v, null);
    Pair lse = pair(BufferKind.ACTIVATIONS, rows, null);
    LossSum cl = cpu.crossEntropy(probs.cpu(), lse.cpu(), logits.cpu(), labels, rows, v);
    LossSum gl = gpu.crossEntropy(probs.gpu(), lse.gpu(), logits.gpu(), labels, rows, v);
    System.err.printf("crossEntropy: cpu %.6f gpu %.6f, correct %d / %d%n", cl.sum(), gl.sum(), cl.correct(),
        gl.correct());
    if (Math.abs(cl.sum() - gl.sum()) > 1e-3 * Math.abs(cl.sum())) {
      failures.add("crossEntropy loss " + gl.sum() + " vs " + cl.sum());
    }
    close("crossEntropy probabilities", probs, OP_TOL, failures);
    close("crossEntropy logsumexp (float32)", lse.gpuFloat32(), lse.cpuValues(), 1e-5, failures);
    cpu.crossEntropyBackward(probs.cpu(), probs.cpu(), lse.cpu(), logits.cpu(), labels, rows, v, 1f / rows);
    gpu.crossEntropyBackward(probs.gpu(), probs.gpu(), lse.gpu(), logits.gpu(), labels, rows, v, 1f / rows);
    close("crossEntropyBackward", probs, OP_TOL, failures);

    int n = 300;
    int hidden = 128;
    int vocab = 50;
    int[] ids = new int[n];
    int[] types = new int[n];
    for (int i = 0; i < n; i++) {
      ids[i] = i % 7 == 0 ? 0 : i % 3 == 0 ? 4 : rnd.nextInt(vocab); // many repeats of id 4: several segments
      types[i] = rnd.nextInt(2);
    }
    Pair table = pair(BufferKind.PARAMETERS, (vocab + 2) * hidden, random(rnd, (vocab + 2) * hidden, 0.1));
    Pair emb = pair(BufferKind.ACTIVATIONS, n * hidden, null);
    cpu.embedding(emb.cpu(), ids, types, table.cpu(), table.cpu().at((long) vocab * hidden), n, hidden);
    gpu.embedding(emb.gpu(), ids, types, table.gpu(), table.gpu().at((long) vocab * hidden), n, hidden);
    close("embedding", emb, OP_TOL, failures);
    Pair demb = pair(BufferKind.GRADIENTS, (vocab + 2) * hidden, null);
    Pair dout = pair(BufferKind.ACTIVATIONS, n * hidden, random(rnd, n * hidden, 1));
    cpu.embeddingBackward(demb.cpu(), demb.cpu().at((long) vocab * hidden), dout.cpu(), ids, types, n, hidden, 0);
    gpu.embeddingBackward(demb.gpu(), demb.gpu().at((long) vocab * hidden), dout.gpu(), ids, types, n, hidden, 0);
    close("embeddingBackward (segmented scatter-add)", demb, 1e-5, failures);

    int[] pick = {3, 17, 5, 299, 0};
    Pair gathered = pair(BufferKind.ACTIVATIONS, pick.length * hidden, null);
    cpu.gatherRows(gathered.cpu(), dout.cpu(), pick, hidden);
    gpu.gatherRows(gathered.gpu(), dout.gpu(), pick, hidden);
    close("gatherRows", gathered, 0, failures);
    cpu.scatterAddRows(emb.cpu(), gathered.cpu(), pick, hidden);
    gpu.scatterAddRows(emb.gpu(), gathered.gpu(), pick, hidden);
    close("scatterAddRows", emb, OP_TOL, failures);

    int size = 100_003;
    float[] p0 = random(rnd, size, 0.1);
    Pair params = pair(BufferKind.PARAMETERS, size, p0);
    Pair grads = pair(BufferKind.GRADIENTS, size, random(rnd, size, 0.01));
    Pair m = pair(BufferKind.OPTIMIZER_STATE, size, null);
    Pair vv = pair(BufferKind.OPTIMIZER_STATE, size, null);
    for (int step = 1; step <= 3; step++) {
      cpu.adamw(params.cpu(), grads.cpu(), m.cpu(), vv.cpu(), size, 1e-3f, 0.9f, 0.98f, 1e-6f, 1e-5f, step);
      gpu.adamw(params.gpu(), grads.gpu(), m.gpu(), vv.gpu(), size, 1e-3f, 0.9f, 0.98f, 1e-6f, 1e-5f, step);
    }
    assertArrayEquals(params.cpuValues(), params.gpuValues(), "AdamW master weights: bit-identical from equal grads");
    assertArrayEquals(vv.cpuValues(), vv.gpuValues(), "AdamW second moment");
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  /** reduce.cu's sum of squares: the CPU's value up to the order of double additions, NaN and infinity passed on. */
  @Test
  void sumOfSquaresMatchesTheCpuAndPassesNonFiniteValuesOn() {
    SplittableRandom rnd = new SplittableRandom(8);
    for (int size : new int[] {5, 300_007}) { // one block; 74 blocks of 4,096, the last one short
      for (BufferKind kind : new BufferKind[] {BufferKind.GRADIENTS, BufferKind.PARAMETERS}) {
        float[] values = random(rnd, size, 0.01);
        Pair x = pair(kind, size, values);
        double expected = cpu.sumOfSquares(x.cpu(), size);
        double actual = gpu.sumOfSquares(x.gpu(), size);
        System.err.printf("sumOfSquares of %d %s: cpu %.17g gpu %.17g%n", size, kind, expected, actual);
        assertEquals(expected, actual, 1e-12 * expected, size + " " + kind);
        assertEquals(actual, gpu.sumOfSquares(x.gpu(), size), 0.0, "the same bits again");
        values[size / 2] = Float.NaN;
        gpu.upload(x.gpu(), values, 0, size);
        assertTrue(Double.isNaN(gpu.sumOfSquares(x.gpu(), size)), "a NaN gives NaN");
        values[size / 2] = Float.POSITIVE_INFINITY;
        gpu.upload(x.gpu(), values, 0, size);
        assertEquals(Double.POSITIVE_INFINITY, gpu.sumOfSquares(x.gpu(), size), "an infinity gives infinity");
      }
    }
  }

  /** A small config with head dimension 64 (what the attention kernel takes); vectors-a's is 16. */
  static ModelConfig smallConfig(double dropout) {
    return new ModelConfig(128, 128, 2, 2, 256, 2, 1e-12, dropout, 0.0, -1, 0.02, 3, null, 0, 512, 512, null);
  }

  @Test
  void wholeForwardAndBackwardMatchTheCpuBackend() {
    for (MosaicBert.Objective objective : new MosaicBert.Objective[] {MosaicBert.Objective.MLM,
        MosaicBert.Objective.CLASSIFICATION}) {
      ModelConfig c = smallConfig(0.1);
      UnpaddedBatch batch = RandomBatches.of(new int[] {128, 37, 1, 90, 128}, c, new SplittableRandom(5), 0.15,
          true);
      MosaicBert.Randomness randomness = new MosaicBert.Randomness(11, 0);
      MosaicBert.Capacity capacity = new MosaicBert.Capacity(batch.nnz(), batch.numSequences(), 128,
          batch.maskedRows().length);
      List<String> failures = new ArrayList<>();
      try (MosaicBert onCpu = new MosaicBert(c, ParameterLayout.Heads.BOTH, new CpuBackend(4), capacity);
          MosaicBert onGpu = new MosaicBert(c, ParameterLayout.Heads.BOTH, newBackend(1L << 30), capacity)) {
        onCpu.setAllParameters(ModelWeights.initial(onCpu.layout(), onCpu.config(), 3));
        for (ParameterLayout.Tensor t : onCpu.layout().tensors()) {
          float[] values = onCpu.parameter(t.name());
          for (int i = 0; i < values.length; i++) {
            values[i] = bf16(values[i]);
          }
          onCpu.setParameter(t.name(), values);
          onGpu.setParameter(t.name(), values);
        }
        MosaicBert.Loss lc = onCpu.forward(batch, objective, randomness);
        MosaicBert.Loss lg = onGpu.forward(batch, objective, randomness);
        System.err.printf("%s loss: cpu %.6f gpu %.6f (count %d / %d)%n", objective, lc.sum() / lc.count(),
            lg.sum() / lg.count(), lc.count(), lg.count());
        assertEquals(lc.count(), lg.count());
        if (Math.abs(lc.sum() - lg.sum()) > 2e-2 * Math.abs(lc.sum())) {
          failures.add(objective + " loss " + lg.sum() + " vs " + lc.sum());
        }
        if (objective == MosaicBert.Objective.MLM) {
          close("MLM logits", onGpu.mlmLogits(), onCpu.mlmLogits(), 3e-2, failures);
        } else {
          close("classifier logits", onGpu.classifierLogits(), onCpu.classifierLogits(), 3e-2, failures);
        }
        onCpu.zeroGradients();
        onGpu.zeroGradients();
        onCpu.backward(lc.count());
        onGpu.backward(lg.count());
        for (ParameterLayout.Tensor t : onCpu.layout().tensors()) {
          boolean used = objective == MosaicBert.Objective.MLM ? !t.name().startsWith("bert.pooler")
              && !t.name().startsWith("classifier") : !t.name().startsWith("cls.");
          if (used) {
            close(objective + " grad " + t.name(), onGpu.gradient(t.name()), onCpu.gradient(t.name()), 8e-2,
                failures);
          }
        }
      }
      assertTrue(failures.isEmpty(), String.join("\n", failures));
    }
  }

  /**
   * The golden vectors (an independent PyTorch reference; head dimension 16, so attention_small.cu) through the whole
   * MLM and classification forward and backward, with bf16 tolerances.
   */
  @Test
  void goldenVectorsA() {
    java.nio.file.Path dir = org.mosaicbert.testing.SharedTestData.path("reference/vectors-a");
    try (CudaBackend backend = newBackend(1L << 28)) {
      org.mosaicbert.io.GoldenVectors.Report report = org.mosaicbert.io.GoldenVectors.check(dir, backend, System.err,
          org.mosaicbert.io.GoldenVectors.Tolerances.BF16);
      assertTrue(report.pass(), "golden vectors-a on the GPU: see the table above");
    }
  }
}
