package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.backend.View;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.model.AlibiSlopes;

/**
 * The CUDA backend's attention kernels run here, on the CPU: attention.cu (tensor-core FlashAttention-style kernels,
 * head dimension 64) and attention_small.cu (16 and 32) are compiled as host C++ with g++ against a stand-in for
 * common.cuh (test resource {@code host/common.cuh}: a block's threads as fibers, block barriers, warp shuffles,
 * and attention.cu's seven PTX wrappers, ldmatrix, mma.sync and cp.async, modelled from the PTX ISA's fragment
 * layouts) and launched grid by grid as CudaBackend launches them. Outputs and every gradient must match CpuBackend's
 * on the same bf16 inputs to bf16 precision. This is not a GPU: it checks the kernels' indexing, tiling, masking,
 * online softmax and synchronisation, not the hardware's behaviour. Skipped, with a message, without g++.
 */
class AttentionKernelsOnHostTest {
  private static final String KERNELS = "/org/mosaicbert/backend/cuda/";
  /** The outputs are bf16 (about 4e-3 relative per rounding); the gradients go through two bf16 roundings more. */
  private static final double TOL = 1.5e-2;

  @TempDir Path tmp;

  @Test
  void attentionKernelsMatchTheCpuBackend() throws Exception {
    Path gxx = findOnPath("g++");
    assumeTrue(gxx != null, "g++ is not on the PATH: the attention kernels were not run on the host");
    Path harness = build(gxx);
    List<String> failures = new ArrayList<>();
    // Head dimension 64 (every preset): a 1-token sequence, a full tile, one past it, two tiles and one past them,
    // an empty sequence; keys past a sequence's end must be masked and never read from the next sequence.
    compare(harness, 64, 2, new int[] {1, 64, 65, 0, 129}, 3, failures);
    // The golden vectors' shape (hidden 64, 4 heads), then 3 heads of 32 with an empty and a 1-token sequence.
    compare(harness, 16, 4, new int[] {24, 17, 9}, 1, failures);
    compare(harness, 32, 3, new int[] {1, 0, 70, 129, 5}, 2, failures);
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  private Path build(Path gxx) throws IOException, InterruptedException {
    Path shim = Files.createDirectories(tmp.resolve("shim"));
    copy(KERNELS + "host/common.cuh", shim.resolve("common.cuh"));
    copy(KERNELS + "common.cuh", Files.createDirectories(tmp.resolve("device")).resolve("common.cuh"));
    copy(KERNELS + "attention.cu", tmp.resolve("attention.cu"));
    copy(KERNELS + "attention_small.cu", tmp.resolve("attention_small.cu"));
    copy(KERNELS + "host/attention_host.cpp", tmp.resolve("attention_host.cpp"));
    Path binary = tmp.resolve("attention_host");
    run(List.of(gxx.toString(), "-std=c++17", "-O2", "-ffp-contract=off", "-Wall", "-Wno-unknown-pragmas", "-I",
        shim.toString(), tmp.resolve("attention_host.cpp").toString(), "-o", binary.toString()));
    return binary;
  }

  private void compare(Path harness, int d, int heads, int[] lengths, long seed, List<String> failures)
      throws IOException, InterruptedException {
    int numSeqs = lengths.length;
    int[] cu = new int[numSeqs + 1];
    long[] probsOffsets = new long[numSeqs];
    long probs = 0;
    for (int b = 0; b < numSeqs; b++) {
      cu[b + 1] = cu[b] + lengths[b];
      probsOffsets[b] = probs;
      probs += (long) heads * lengths[b] * lengths[b];
    }
    int nnz = cu[numSeqs];
    int h = heads * d;
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] qkv = CudaBackendParityTest.random(rnd, nnz * 3 * h, 1);
    float[] dctx = CudaBackendParityTest.random(rnd, nnz * h, 1);
    float[] slopes = AlibiSlopes.of(heads);

    float[] cpuCtx = new float[nnz * h];
    float[] cpuDqkv = new float[nnz * 3 * h];
    try (CpuBackend cpu = new CpuBackend(1)) {
      View q = cpu.allocate(qkv.length, "qkv").at(0);
      View c = cpu.allocate(cpuCtx.length, "ctx").at(0);
      View p = cpu.allocate(Math.max(1, probs), "probs").at(0);
      View dc = cpu.allocate(dctx.length, "dctx").at(0);
      View dq = cpu.allocate(qkv.length, "dqkv").at(0);
      cpu.upload(q, qkv, 0, qkv.length);
      cpu.upload(dc, dctx, 0, dctx.length);
      cpu.attention(c, p, q, cu, probsOffsets, numSeqs, heads, d, slopes);
      cpu.attentionBackward(dq, dc, p, q, cu, probsOffsets, numSeqs, heads, d);
      cpu.download(cpuCtx, 0, c, cpuCtx.length);
      cpu.download(cpuDqkv, 0, dq, cpuDqkv.length);
    }

    ByteBuffer in = ByteBuffer.allocate(16 + 4 * (numSeqs + 1) + 4 * heads + 2 * (qkv.length + dctx.length))
        .order(ByteOrder.LITTLE_ENDIAN);
    in.putInt(d).putInt(heads).putInt(numSeqs).putInt(nnz);
    for (int x : cu) {
      in.putInt(x);
    }
    for (float s : slopes) {
      in.putFloat(s);
    }
    for (float x : qkv) {
      in.putShort((short) (Float.floatToRawIntBits(x) >>> 16)); // already bf16: the upper half is exact
    }
    for (float x : dctx) {
      in.putShort((short) (Float.floatToRawIntBits(x) >>> 16));
    }
    Path inFile = tmp.resolve("in-" + d + ".bin");
    Path outFile = tmp.resolve("out-" + d + ".bin");
    Files.write(inFile, in.array());
    run(List.of(harness.toString(), inFile.toString(), outFile.toString()));
    ByteBuffer out = ByteBuffer.wrap(Files.readAllBytes(outFile)).order(ByteOrder.LITTLE_ENDIAN);
    assertEquals(2 * nnz * h + 4 * heads * nnz + 2 * 3 * nnz * h, out.remaining(), "output size");
    float[] ctx = bf16s(out, nnz * h);
    float[] lse = new float[heads * nnz];
    out.asFloatBuffer().get(lse);
    out.position(out.position() + 4 * lse.length);
    float[] dqkv = bf16s(out, 3 * nnz * h);

    String shape = "head dim " + d + ", " + heads + " heads, lengths " + java.util.Arrays.toString(lengths);
    check(shape + ": ctx", ctx, cpuCtx, failures);
    for (int third = 0; third < 3; third++) {
      float[] got = new float[nnz * h];
      float[] want = new float[nnz * h];
      for (int r = 0; r < nnz; r++) {
        System.arraycopy(dqkv, r * 3 * h + third * h, got, r * h, h);
        System.arraycopy(cpuDqkv, r * 3 * h + third * h, want, r * h, h);
      }
      check(shape + ": d" + "qkv".charAt(third), got, want, failures);
    }
    for (float x : lse) {
      if (!Float.isFinite(x)) {
        failures.add(shape + ": a logsumexp is " + x);
        break;
      }
    }
  }

  private static void check(String what, float[] actual, float[] expected, List<String> failures) {
    double rel = CudaBackendParityTest.relFrobenius(actual, expected);
    System.err.printf("attention kernels on the host, %s: relative Frobenius error %.2e%n", what, rel);
    if (!(rel <= TOL)) {
      failures.add(what + ": relative Frobenius error " + rel + " > " + TOL);
    }
  }

  private static float[] bf16s(ByteBuffer b, int n) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
    }
    return out;
  }

  private static void copy(String resource, Path to) throws IOException {
    try (InputStream in = AttentionKernelsOnHostTest.class.getResourceAsStream(resource)) {
      assertTrue(in != null, "missing resource " + resource);
      Files.copy(in, to);
    }
  }

  private static void run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertTrue(p.waitFor(300, TimeUnit.SECONDS), "timed out: " + command);
    assertEquals(0, p.exitValue(), String.join(" ", command) + " failed:\n" + output);
  }

  private static Path findOnPath(String name) {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
      Path candidate = Path.of(dir.isEmpty() ? "." : dir, name);
      if (Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    return null;
  }
}
