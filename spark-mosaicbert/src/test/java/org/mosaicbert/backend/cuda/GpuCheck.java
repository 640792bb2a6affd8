package org.mosaicbert.backend.cuda;

import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.bench.EngineBenchmark;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.model.RandomBatches;
import org.mosaicbert.model.UnpaddedBatch;
import org.mosaicbert.collective.NcclCollective;
import org.mosaicbert.train.SettingValues;
import org.mosaicbert.train.DataParallelTrainer;
import org.mosaicbert.train.DecoupledAdamW;
import org.mosaicbert.train.InitialWeights;

/**
 * What scripts/gpu-check.sh runs on the GPU machine (no Maven there), one phase per JVM ({@code --phase NAME}), so that
 * a device fault, which poisons the CUDA context of its process, costs only its own phase:
 * <ul>
 *   <li>{@code preflight}: {@link CudaProbe} loads every preset and reports the device and the library versions;</li>
 *   <li>{@code parity}: the CUDA parity suite, method by method (the script runs it with a synchronise after every
 *       launch, so that a fault names its kernel);</li>
 *   <li>{@code training}: a short training run through {@link DataParallelTrainer} on the GPU with a one-rank NCCL
 *       against the same run on the CPU;</li>
 *   <li>{@code benchmark}: tokens/s, model TFLOP/s and MFU of a base training step at sequence length 128, counted as
 *       EngineBenchmark counts them, over the H200's dense bf16 peak of 989 TFLOP/s, and a plain bf16 cuBLAS GEMM for
 *       the ratio;</li>
 *   <li>{@code attention}: the attention kernels against cuBLAS's two GEMMs (no softmax kernel: a lower bound on a
 *       cuBLAS attention's time);</li>
 *   <li>{@code nccl-deadline}: a communicator of two ranks that only this one joins must give up at its deadline
 *       (NCCL's creation is non-blocking and polled; a blocking one would wait forever).</li>
 * </ul>
 * With {@code --emulated} (no GPU, g++ there), parity, training and a tiny benchmark run on the emulated device: a dry
 * run of the suite.
 * Each phase prints its figures and appends one JSON line (phase, status, seconds, summary) to
 * {@code $OUT/results.jsonl}; the script writes the line of a phase that died without writing it.
 */
public final class GpuCheck {
  static final double H200_BF16_DENSE_TFLOPS = 989;
  static final List<String> PHASES = List.of("preflight", "parity", "training", "benchmark", "attention",
      "nccl-deadline");

  private GpuCheck() {}

  public static void main(String[] args) throws Exception {
    List<String> arguments = List.of(args);
    int at = arguments.indexOf("--phase");
    String phase = at >= 0 && at + 1 < arguments.size() ? arguments.get(at + 1) : "";
    if (!PHASES.contains(phase)) {
      System.err.println("usage: GpuCheck --phase " + String.join("|", PHASES) + " [--emulated] [--label NAME]");
      System.exit(2);
    }
    boolean emulated = arguments.contains("--emulated");
    int labelAt = arguments.indexOf("--label"); // the script's name for the run (memcheck: parity under the sanitizer)
    String label = labelAt >= 0 && labelAt + 1 < arguments.size() ? arguments.get(labelAt + 1) : phase;
    Path outDir = System.getenv("OUT") == null ? Path.of(".") : Path.of(System.getenv("OUT"));
    Files.createDirectories(outDir);
    PrintStream out = System.out;
    long t0 = System.nanoTime();
    String status;
    String summary;
    try {
      CudaProbe.Result probe = CudaProbe.probe();
      out.println("CudaProbe: " + probe.describe());
      if (!probe.available() && !emulated) {
        status = phase.equals("preflight") ? "fail" : "skipped";
        summary = probe.describe();
      } else {
        String[] result = switch (phase) {
          case "preflight" -> new String[] {"pass", probe.describe()};
          case "parity" -> parity(out);
          case "training" -> emulated ? trainingOnTheEmulatedDevice(out) : trainingMatchesTheCpu(out, 40);
          case "benchmark" -> benchmark(out, emulated, emulated ? 2 : 5);
          case "nccl-deadline" -> emulated ? skippedWhenEmulated() : ncclGivesUpOnAMissingPeer(out, 5_000);
          default -> emulated ? skippedWhenEmulated() : attentionBenchmark(out, 128, 128, 10);
        };
        status = result[0];
        summary = (emulated ? "emulated device: " : "") + result[1];
      }
    } catch (Throwable t) {
      t.printStackTrace(out);
      status = "fail";
      summary = t.toString();
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    out.printf("phase %s: %s (%.1f s): %s%n", label, status.toUpperCase(java.util.Locale.ROOT), seconds, summary);
    String line = String.format(java.util.Locale.ROOT, "{\"phase\": \"%s\", \"status\": \"%s\", \"seconds\": %.1f, "
        + "\"summary\": \"%s\"}%n", label, status, seconds, jsonEscape(summary));
    Files.writeString(outDir.resolve("results.jsonl"), line, java.nio.file.StandardOpenOption.CREATE,
        java.nio.file.StandardOpenOption.APPEND);
    out.flush();
    // exit rather than return: a CUDA context or NCCL thread left behind must not keep the JVM alive
    System.exit(status.equals("fail") ? 1 : 0);
  }

  private static String[] skippedWhenEmulated() {
    return new String[] {"skipped", "a GPU-only phase (cuBLAS timings)"};
  }

  static String jsonEscape(String s) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        default -> b.append(c < 0x20 ? String.format("\\u%04x", (int) c) : String.valueOf(c));
      }
    }
    return b.toString();
  }

  static String[] parity(PrintStream out) {
    PrintStream savedErr = System.err;
    System.setErr(out);
    boolean pass = true;
    List<String> failed = new java.util.ArrayList<>();
    int ran = 0;
    try {
      CudaBackendParityTest.open();
      for (Method m : CudaBackendParityTest.class.getDeclaredMethods()) {
        if (!m.isAnnotationPresent(Test.class)) {
          continue;
        }
        long t0 = System.nanoTime();
        ran++;
        try {
          m.setAccessible(true);
          m.invoke(new CudaBackendParityTest());
          out.printf("PASS %s (%.1f s)%n", m.getName(), (System.nanoTime() - t0) / 1e9);
        } catch (java.lang.reflect.InvocationTargetException e) {
          pass = false;
          failed.add(m.getName());
          out.printf("FAIL %s: %s%n", m.getName(), e.getCause());
          e.getCause().printStackTrace(out);
        }
      }
    } catch (Throwable t) {
      pass = false;
      failed.add("opening the suite: " + t);
      out.println("FAIL opening the parity suite: " + t);
      t.printStackTrace(out);
    } finally {
      CudaBackendParityTest.close();
      System.setErr(savedErr);
    }
    return new String[] {pass ? "pass" : "fail", (ran - failed.size()) + " of " + ran + " parity tests pass"
        + (failed.isEmpty() ? "" : "; failed: " + String.join(", ", failed))};
  }

  /**
   * The whole training path on the GPU: {@link DataParallelTrainer} with {@link CudaBackend#open} and a one-rank
   * {@link NcclCollective} (the gradient allreduce in device memory), against the same run on the CPU backend, 40
   * steps of 32 sequences in two micro-batches ({@link TrainingComparison}).
   */
  static String[] trainingMatchesTheCpu(PrintStream out, int steps) {
    TrainingComparison c = TrainingComparison.run(steps, 2048, 512, 128, 32, 16, (plan, stream, store) -> {
      try (NcclCollective nccl = new NcclCollective(0, 1, NcclCollective.newUniqueId(), 0, 600_000)) {
        DataParallelTrainer.train(plan, CudaBackend.open(0, 1), nccl, stream, InitialWeights.fromSeed(), store);
      }
    });
    c.print(out, "CUDA backend + NCCL");
    return new String[] {c.passes(0.5) ? "pass" : "fail", c.summary()};
  }

  /** A 2-rank communicator that only rank 0 joins: its creation must fail near the deadline, not hang. */
  static String[] ncclGivesUpOnAMissingPeer(PrintStream out, long timeoutMillis) {
    long t0 = System.nanoTime();
    try (NcclCollective alone = new NcclCollective(0, 2, NcclCollective.newUniqueId(), 0, timeoutMillis)) {
      return new String[] {"fail", "a 2-rank communicator formed with one rank: " + alone.worldSize()};
    } catch (IllegalStateException e) {
      double seconds = (System.nanoTime() - t0) / 1e9;
      out.println("as expected: " + e.getMessage());
      boolean inTime = seconds < timeoutMillis / 1e3 + 10;
      return new String[] {inTime ? "pass" : "fail", String.format(java.util.Locale.ROOT, "a 2-rank communicator "
          + "that only rank 0 joins gave up after %.1f s (deadline %.1f s)", seconds, timeoutMillis / 1e3)};
    }
  }

  /** The training comparison of {@link CudaTrainingTest}, for a dry run without a GPU. */
  static String[] trainingOnTheEmulatedDevice(PrintStream out) {
    TrainingComparison c = TrainingComparison.run(6, 256, 64, 32, 8, 4, (plan, stream, store) ->
        DataParallelTrainer.train(plan, new CudaBackend(new EmulatedDevice(), 1L << 28),
            org.mosaicbert.collective.Collective.single(), stream, InitialWeights.fromSeed(), store));
    c.print(out, "the CUDA backend on the emulated device");
    return new String[] {c.passes(0.3) ? "pass" : "fail", c.summary()};
  }

  /**
   * A training step of base at batchSize x seqLen: the best of {@code steps} (forward, backward and optimizer timed
   * apart), then one step with every call synchronised and timed ({@link ProfilingDevice}): where the time goes, and
   * the step's GEMMs at the plain cuBLAS rate, the bound that 50% MFU must approach. On the emulated device, the tiny
   * model on a small batch: only a dry run of this code.
   */
  static String[] benchmark(PrintStream out, boolean emulated, int steps) {
    int seqLen = emulated ? 32 : 128;
    int batchSize = emulated ? 4 : 128;
    double gemm = emulated ? Double.NaN : bf16GemmTflops(8192, out);
    double bandwidth = emulated ? Double.NaN : deviceCopyGBs(out);
    ModelConfig config = ModelConfig.preset(emulated ? "tiny" : "base", emulated ? 2048 : 30528);
    SplittableRandom rnd = new SplittableRandom(1);
    int[] lengths = new int[batchSize];
    java.util.Arrays.fill(lengths, seqLen);
    UnpaddedBatch batch = RandomBatches.of(lengths, config, rnd, 0.15, true);
    int tokens = batch.nnz();
    int masked = batch.maskedRows().length;
    double trainFlops = EngineBenchmark.trainingFlops(config, batch);
    out.printf("%s at %d x %d = %d tokens, %d masked; model FLOPs per training step %.1f GFLOP (EngineBenchmark's "
        + "count)%n", emulated ? "tiny" : "base", batchSize, seqLen, tokens, masked, trainFlops / 1e9);
    out.println(EngineBenchmark.skippedFlopsLine(config, batch));
    ProfilingDevice device = new ProfilingDevice(emulated ? new EmulatedDevice() : new CudaDevice(0));
    CudaBackend backend = new CudaBackend(device, emulated ? 1L << 28 : 48L << 30);
    try (MosaicBert model = new MosaicBert(config, ParameterLayout.Heads.MLM, backend,
        new MosaicBert.Capacity(tokens, batchSize, seqLen, masked))) {
      model.setAllParameters(ModelWeights.initial(model.layout(), model.config(), 1));
      DecoupledAdamW adamw = new DecoupledAdamW(backend, model.layout().size(),
          DecoupledAdamW.Hyper.of(SettingValues.defaults()));
      MosaicBert.Randomness randomness = new MosaicBert.Randomness(1, 0);
      double[] best = {Double.MAX_VALUE, 0, 0, 0}; // step, forward, backward, optimizer of the best step
      for (int s = 0; s <= steps + 1; s++) {
        device.profiling = s == steps + 1; // the last step, after the timed ones
        backend.synchronize();
        long t0 = System.nanoTime();
        model.zeroGradients();
        MosaicBert.Loss loss = model.forward(batch, MosaicBert.Objective.MLM, randomness);
        double lossValue = loss.sum() / loss.count(); // reads the loss: the forward pass is done
        long t1 = System.nanoTime();
        model.backward(loss.count());
        backend.synchronize();
        long t2 = System.nanoTime();
        adamw.step(model.parameters(), model.gradients(), 1.0);
        backend.synchronize();
        long t3 = System.nanoTime();
        double seconds = (t3 - t0) / 1e9;
        if (s > 0 && s <= steps && seconds < best[0]) {
          best = new double[] {seconds, (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9};
        }
        out.printf("  training step %d%s: %.4f s (forward %.4f, backward %.4f, optimizer %.4f), loss %.4f%n", s,
            device.profiling ? " (profiled)" : s == 0 ? " (warm-up)" : "", seconds, (t1 - t0) / 1e9,
            (t2 - t1) / 1e9, (t3 - t2) / 1e9, lossValue);
      }
      out.println("where the profiled step's time goes:");
      device.print(out);
      double gemmFlops = device.gemmFlops();
      double tflops = trainFlops / best[0] / 1e12;
      String figures = String.format(java.util.Locale.ROOT, "%s %dx%d training step (best of %d): %.4f s (forward "
          + "%.4f, backward %.4f, optimizer %.4f), %.0f tokens/s, %.1f model TFLOP/s, MFU %.1f%% of %.0f, %.0f%% of "
          + "the plain bf16 cuBLAS GEMM (%.1f TFLOP/s); the step's GEMMs (%.1f GFLOP) at that rate alone %.4f s; "
          + "device copy %.0f GB/s; %d calls per step", emulated ? "tiny" : "base", batchSize, seqLen, steps,
          best[0], best[1], best[2], best[3], tokens / best[0], tflops, 100 * tflops / H200_BF16_DENSE_TFLOPS,
          H200_BF16_DENSE_TFLOPS, 100 * tflops / gemm, gemm, gemmFlops / 1e9, gemmFlops / (gemm * 1e12), bandwidth,
          device.calls());
      out.println(figures);
      return new String[] {"pass", figures};
    }
  }

  /** Device-to-device cudaMemcpy of 1 GiB, best of five, in GB/s counting the bytes read and written. */
  static double deviceCopyGBs(PrintStream out) {
    long bytes = 1L << 30;
    Pointer a = new Pointer();
    Pointer b = new Pointer();
    cudart.cudaMalloc(a, bytes);
    cudart.cudaMalloc(b, bytes);
    double best = Double.MAX_VALUE;
    for (int i = 0; i < 6; i++) {
      cudart.cudaDeviceSynchronize();
      long t0 = System.nanoTime();
      cudart.cudaMemcpy(b, a, bytes, cudart.cudaMemcpyDeviceToDevice);
      cudart.cudaDeviceSynchronize();
      if (i > 0) {
        best = Math.min(best, (System.nanoTime() - t0) / 1e9);
      }
    }
    cudart.cudaFree(a);
    cudart.cudaFree(b);
    double gbs = 2.0 * bytes / best / 1e9;
    out.printf("device-to-device copy of 1 GiB: %.0f GB/s (bytes read and written)%n", gbs);
    return gbs;
  }

  /**
   * The attention kernel alone (forward, and forward + backward) for base's 12 heads over batch x seqLen tokens of
   * full-length sequences, against the two cuBLAS strided-batched bf16 GEMMs of the same attention (S = Q·Kᵀ, then
   * O = P·V, one call per head batched over sequences). The cuBLAS figure leaves out the softmax, the ALiBi bias and
   * every extra pass over the S x S matrices, so it is a lower bound on a cuBLAS-based attention's time.
   */
  static String[] attentionBenchmark(PrintStream out, int batchSize, int seqLen, int iterations) {
    int heads = 12;
    int d = 64;
    int h = heads * d;
    int nnz = batchSize * seqLen;
    int[] cu = new int[batchSize + 1];
    for (int b = 0; b <= batchSize; b++) {
      cu[b] = b * seqLen;
    }
    float[] slopes = org.mosaicbert.model.AlibiSlopes.of(heads);
    try (CudaBackend gpu = new CudaBackend(0, 4L << 30)) {
      SplittableRandom rnd = new SplittableRandom(9);
      var qkv = gpu.allocate(BufferKind.ACTIVATIONS, 3L * nnz * h, "qkv").at(0);
      gpu.upload(qkv, CudaBackendParityTest.random(rnd, 3 * nnz * h, 1), 0, 3 * nnz * h);
      var ctx = gpu.allocate(BufferKind.ACTIVATIONS, (long) nnz * h, "ctx").at(0);
      var lse = gpu.allocate(BufferKind.ACTIVATIONS, (long) heads * nnz, "lse").at(0);
      var dctx = gpu.allocate(BufferKind.ACTIVATIONS, (long) nnz * h, "dctx").at(0);
      gpu.upload(dctx, CudaBackendParityTest.random(rnd, nnz * h, 1), 0, nnz * h);
      var dqkv = gpu.allocate(BufferKind.ACTIVATIONS, 3L * nnz * h, "dqkv").at(0);
      var scores = gpu.allocate(BufferKind.ACTIVATIONS, (long) batchSize * seqLen * seqLen, "scores").at(0);
      double forward = Double.MAX_VALUE;
      double both = Double.MAX_VALUE;
      for (int i = 0; i <= iterations; i++) {
        gpu.synchronize();
        long t0 = System.nanoTime();
        gpu.attention(ctx, lse, qkv, cu, batchSize, heads, d, slopes);
        gpu.synchronize();
        long t1 = System.nanoTime();
        gpu.attentionBackward(dqkv, dctx, ctx, lse, qkv, cu, batchSize, heads, d, slopes);
        gpu.synchronize();
        long t2 = System.nanoTime();
        if (i > 0) {
          forward = Math.min(forward, (t1 - t0) / 1e9);
          both = Math.min(both, (t2 - t0) / 1e9);
        }
      }
      cublasContext handle = new cublasContext();
      cublas.cublasCreate_v2(handle);
      long qkvBase = ((CudaBackend.CudaBuffer) qkv.buffer()).address;
      long ctxBase = ((CudaBackend.CudaBuffer) ctx.buffer()).address;
      long sBase = ((CudaBackend.CudaBuffer) scores.buffer()).address;
      double gemms = Double.MAX_VALUE;
      try (FloatPointer one = new FloatPointer(1f); FloatPointer zero = new FloatPointer(0f)) {
        for (int i = 0; i <= iterations; i++) {
          gpu.synchronize();
          long t0 = System.nanoTime();
          for (int head = 0; head < heads; head++) {
            long q = qkvBase + 2L * head * d;
            long k = qkvBase + 2L * (h + head * d);
            long v = qkvBase + 2L * (2 * h + head * d);
            int err = cublas.cublasGemmStridedBatchedEx(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, seqLen, seqLen,
                d, one, CudaBackend.ptr(k), cudart.CUDA_R_16BF, 3 * h, (long) seqLen * 3 * h, CudaBackend.ptr(q),
                cudart.CUDA_R_16BF, 3 * h, (long) seqLen * 3 * h, zero, CudaBackend.ptr(sBase), cudart.CUDA_R_16BF,
                seqLen, (long) seqLen * seqLen, batchSize, cublas.CUBLAS_COMPUTE_32F, cublas.CUBLAS_GEMM_DEFAULT);
            err |= cublas.cublasGemmStridedBatchedEx(handle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, d, seqLen, seqLen,
                one, CudaBackend.ptr(v), cudart.CUDA_R_16BF, 3 * h, (long) seqLen * 3 * h, CudaBackend.ptr(sBase),
                cudart.CUDA_R_16BF, seqLen, (long) seqLen * seqLen, zero, CudaBackend.ptr(ctxBase + 2L * head * d),
                cudart.CUDA_R_16BF, h, (long) seqLen * h, batchSize, cublas.CUBLAS_COMPUTE_32F,
                cublas.CUBLAS_GEMM_DEFAULT);
            if (err != 0) {
              throw new IllegalStateException("cublasGemmStridedBatchedEx failed");
            }
          }
          gpu.synchronize();
          if (i > 0) {
            gemms = Math.min(gemms, (System.nanoTime() - t0) / 1e9);
          }
        }
      }
      cublas.cublasDestroy_v2(handle);
      double flops = 4.0 * batchSize * heads * (double) seqLen * seqLen * d;
      String figures = String.format(java.util.Locale.ROOT, "attention, %d heads x %d sequences x %d: kernel "
          + "forward %.3f ms (%.1f TFLOP/s), forward+backward %.3f ms; cuBLAS Q.K^T and P.V GEMMs alone (no softmax) "
          + "%.3f ms (%.1f TFLOP/s): kernel/cuBLAS time %.2f", heads, batchSize, seqLen, forward * 1e3,
          flops / forward / 1e12, both * 1e3, gemms * 1e3, flops / gemms / 1e12, forward / gemms);
      out.println(figures);
      return new String[] {"pass", figures};
    }
  }

  /** Best of five n x n x n bf16 GEMMs (float32 accumulation, bf16 out) through cublasGemmEx, in TFLOP/s. */
  static double bf16GemmTflops(int n, PrintStream out) {
    long bytes = 2L * n * n;
    Pointer a = new Pointer();
    Pointer b = new Pointer();
    Pointer c = new Pointer();
    cudart.cudaMalloc(a, bytes);
    cudart.cudaMalloc(b, bytes);
    cudart.cudaMalloc(c, bytes);
    // Random operands: all-zero ones would flatter the GEMM (tensor cores draw less power on zeros and clock higher).
    SplittableRandom rnd = new SplittableRandom(3);
    short[] values = new short[n * n];
    for (int i = 0; i < values.length; i++) {
      values[i] = (short) (Float.floatToRawIntBits((float) (rnd.nextDouble() * 2 - 1)) >>> 16);
    }
    try (org.bytedeco.javacpp.ShortPointer host = new org.bytedeco.javacpp.ShortPointer(values)) {
      cudart.cudaMemcpy(a, host, bytes, cudart.cudaMemcpyHostToDevice);
      cudart.cudaMemcpy(b, host, bytes, cudart.cudaMemcpyHostToDevice);
    }
    cublasContext handle = new cublasContext();
    cublas.cublasCreate_v2(handle);
    double best = Double.MAX_VALUE;
    try (FloatPointer one = new FloatPointer(1f); FloatPointer zero = new FloatPointer(0f)) {
      for (int i = 0; i < 6; i++) {
        cudart.cudaDeviceSynchronize();
        long t0 = System.nanoTime();
        int err = cublas.cublasGemmEx(handle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, n, n, n, one, a,
            cudart.CUDA_R_16BF, n, b, cudart.CUDA_R_16BF, n, zero, c, cudart.CUDA_R_16BF, n, cublas.CUBLAS_COMPUTE_32F,
            cublas.CUBLAS_GEMM_DEFAULT);
        cudart.cudaDeviceSynchronize();
        if (err != 0) {
          throw new IllegalStateException("cublasGemmEx: " + err);
        }
        if (i > 0) {
          best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
      }
    }
    cublas.cublasDestroy_v2(handle);
    cudart.cudaFree(a);
    cudart.cudaFree(b);
    cudart.cudaFree(c);
    double tflops = 2.0 * n * n * (double) n / best / 1e12;
    out.printf("plain bf16 cuBLAS GEMM %d^3: %.1f TFLOP/s (%.0f%% of %.0f)%n", n, tflops,
        100 * tflops / H200_BF16_DENSE_TFLOPS, H200_BF16_DENSE_TFLOPS);
    return tflops;
  }
}
