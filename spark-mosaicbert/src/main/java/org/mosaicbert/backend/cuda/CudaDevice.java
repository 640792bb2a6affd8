package org.mosaicbert.backend.cuda;

import static org.bytedeco.cuda.global.cublas.CUBLASLT_EPILOGUE_BIAS;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_BIAS_POINTER;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_EPILOGUE;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_TRANSA;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_TRANSB;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES;
import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_GEMM_DEFAULT;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One NVIDIA GPU (sm_80 or newer) as a {@link Device}: the kernel files compiled at run time with NVRTC to a CUBIN for
 * its architecture (cached by source hash, architecture and NVRTC version), bf16 GEMMs with float32 accumulation
 * through cuBLASLt (bias epilogue) and cublasGemmEx, everything on the legacy default stream.
 *
 * <p>Like CUDA itself, it works on the thread that opened it (the training task's thread): the device is current
 * there.
 *
 * <p>CudaBackend's tests in every build run on an emulated device instead, which covers the kernels and CudaBackend's
 * own code but not this class.
 */
final class CudaDevice implements Device {
  private static final Logger LOG = LoggerFactory.getLogger(CudaDevice.class);
  private static final long GEMM_WORKSPACE_BYTES = 32L << 20;
  /** Pinned host memory that writes go through (see {@link #writeAsync}). */
  private static final long PINNED_BYTES = 64L << 20;
  /** -Dmosaicbert.cuda.syncEachLaunch=true: synchronise after every launch (the GPU check's parity phase). */
  private static final boolean SYNC_EACH_LAUNCH = Boolean.getBoolean("mosaicbert.cuda.syncEachLaunch");

  private final int ordinal;
  private final String arch;
  private final Pointer workspace = new Pointer();
  private final Pointer pinned = new Pointer();
  private long pinnedUsed;
  private Pointer arena;
  private final cublasContext cublasHandle = new cublasContext();
  private final cublasLtContext ltHandle = new cublasLtContext();
  private final Map<String, CUfunc_st> functions = new HashMap<>();
  private final List<CUmod_st> modules = new ArrayList<>();
  private final Map<GemmKey, cublasLtMatmulHeuristicResult_t> gemmAlgorithms = new HashMap<>();
  private final KernelArguments kernelArguments = new KernelArguments();
  private final KernelSignatures signatures = KernelSignatures.ofResources();
  private boolean closed;

  /**
   * Opens CUDA device {@code ordinal} (the barrier task's GPU address): its primary context, the cuBLAS handles, the
   * kernels (compiled, or loaded from the cache).
   */
  CudaDevice(int ordinal) {
    requireCuda();
    this.ordinal = ordinal;
    check(cudart.cudaSetDevice(ordinal), "cudaSetDevice(" + ordinal + ")");
    check(cudart.cudaFree(null), "cudaFree(0) (creating the primary context)");
    int[] major = new int[1];
    int[] minor = new int[1];
    check(cudart.cudaDeviceGetAttribute(major, cudart.cudaDevAttrComputeCapabilityMajor, ordinal), "capability");
    check(cudart.cudaDeviceGetAttribute(minor, cudart.cudaDevAttrComputeCapabilityMinor, ordinal), "capability");
    this.arch = "sm_" + major[0] + minor[0];
    LOG.info("CUDA device {} ({})", ordinal, arch);
    try {
      check(cudart.cudaMalloc(workspace, GEMM_WORKSPACE_BYTES), "cudaMalloc(GEMM workspace)");
      check(cudart.cudaMallocHost(pinned, PINNED_BYTES), "cudaMallocHost(" + PINNED_BYTES + " bytes)");
      checkCublas(cublas.cublasCreate_v2(cublasHandle), "cublasCreate");
      checkCublas(cublas.cublasLtCreate(ltHandle), "cublasLtCreate");
      for (String source : SOURCES) {
        loadModule(source);
      }
    } catch (Throwable e) { // an UnsatisfiedLinkError (a missing library) is an Error, and must free the GPU too
      close(); // a retried task on this executor must find the GPU free
      throw e;
    }
  }

  /** Fails with the probe's reason (missing driver or library) before any CUDA call could fail to link. */
  static void requireCuda() {
    CudaProbe.Result probe = CudaProbe.probe();
    if (!probe.available()) {
      throw new IllegalStateException("CudaBackend: " + probe.describe());
    }
  }

  /** The free memory of device {@code ordinal}, in bytes (and its total, logged). */
  static long freeBytes(int ordinal) {
    requireCuda();
    check(cudart.cudaSetDevice(ordinal), "cudaSetDevice(" + ordinal + ")");
    try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
      check(cudart.cudaMemGetInfo(free, total), "cudaMemGetInfo");
      LOG.info("CUDA device {}: {} MiB free of {} MiB", ordinal, free.get() >> 20, total.get() >> 20);
      return free.get();
    }
  }

  @Override
  public String arch() {
    return arch;
  }

  @Override
  public long allocateArena(long bytes) {
    if (arena != null) {
      throw new IllegalStateException("the arena is allocated once");
    }
    arena = new Pointer();
    check(cudart.cudaMalloc(arena, bytes), "cudaMalloc(" + bytes + " bytes)");
    check(cudart.cudaMemset(arena, 0, bytes), "cudaMemset(arena)");
    return arena.address();
  }

  @Override
  public void write(long address, int[] src, int n) {
    writeAsync(address, n, 4, (at, from, count) -> new IntPointer(CudaBackend.ptr(at)).put(src, from, count));
  }

  @Override
  public void write(long address, long[] src, int n) {
    writeAsync(address, n, 8, (at, from, count) -> new LongPointer(CudaBackend.ptr(at)).put(src, from, count));
  }

  @Override
  public void write(long address, float[] src, int offset, int n) {
    writeAsync(address, n, 4,
        (at, from, count) -> new FloatPointer(CudaBackend.ptr(at)).put(src, offset + from, count));
  }

  /** Copies elements [from, from + count) of a host array to pinned memory at {@code at}. */
  private interface Fill {
    void into(long at, int from, int count);
  }

  /**
   * Host-to-device copies through pinned memory with cudaMemcpyAsync, so that they queue behind the kernels. Every
   * step stages small host arrays (token ids, cu_seqlens, labels, dropout keys) many times; a cudaMemcpy from
   * pageable memory would first wait for the stream to drain, and the GPU would idle while the host launches the
   * next kernels. The pinned memory is a ring: it is reused from its start once full, after a synchronisation (the
   * copies still reading it are done then). Large arrays go in chunks of half the ring.
   */
  private void writeAsync(long address, int n, int elementBytes, Fill fill) {
    int chunk = (int) (PINNED_BYTES / 2 / elementBytes);
    for (int from = 0; from < n; from += chunk) {
      int count = Math.min(chunk, n - from);
      long bytes = (long) count * elementBytes;
      long at = (pinnedUsed + 15) / 16 * 16;
      if (at + bytes > PINNED_BYTES) {
        synchronize();
        at = 0;
      }
      pinnedUsed = at + bytes;
      fill.into(pinned.address() + at, from, count);
      check(cudart.cudaMemcpyAsync(CudaBackend.ptr(address + (long) from * elementBytes),
          CudaBackend.ptr(pinned.address() + at), bytes, cudart.cudaMemcpyHostToDevice, (CUstream_st) null),
          "cudaMemcpyAsync(" + bytes + " bytes)");
    }
  }

  @Override
  public void read(long address, float[] dst, int offset, int n) {
    if (n > 0) {
      try (FloatPointer p = new FloatPointer(n)) {
        check(cudart.cudaMemcpy(p, CudaBackend.ptr(address), 4L * n, cudart.cudaMemcpyDeviceToHost), "download");
        p.get(dst, offset, n);
      }
    }
  }

  @Override
  public void read(long address, int[] dst, int n) {
    if (n > 0) {
      try (IntPointer p = new IntPointer(n)) {
        check(cudart.cudaMemcpy(p, CudaBackend.ptr(address), 4L * n, cudart.cudaMemcpyDeviceToHost), "download");
        p.get(dst, 0, n);
      }
    }
  }

  @Override
  public void copy(long dst, long src, long bytes) {
    check(cudart.cudaMemcpy(CudaBackend.ptr(dst), CudaBackend.ptr(src), bytes, cudart.cudaMemcpyDeviceToDevice),
        "cudaMemcpy(device to device)");
  }

  @Override
  public void zero(long address, long bytes) {
    check(cudart.cudaMemset(CudaBackend.ptr(address), 0, bytes), "cudaMemset");
  }

  /**
   * cuLaunchKernel with arguments boxed by their C type (see {@link Device}), after checking them against the
   * kernel's signature: the driver would take a short or mistyped list without a word. The check has not run on a
   * GPU.
   */
  @Override
  public void launch(String name, int gx, int gy, int gz, int block, int sharedBytes, Object... args) {
    signatures.check(name, args);
    CUfunc_st function = functions.get(name);
    if (gx < 1 || gy < 1 || gy > 65535 || gz < 1 || gz > 65535 || block < 1 || block > 1024) {
      throw new IllegalArgumentException("launch of " + launchDescription(name, gx, gy, gz, block, sharedBytes)
          + " is outside the hardware's limits (grid x 1..2^31-1, y and z 1..65535, 1..1024 threads a block)");
    }
    int err = cudart.cuLaunchKernel(function, gx, gy, gz, block, 1, 1, sharedBytes, (CUstream_st) null,
        kernelArguments.pack(args), (PointerPointer<?>) null);
    if (err != 0) {
      check(err, "cuLaunchKernel(" + launchDescription(name, gx, gy, gz, block, sharedBytes) + ")");
    }
    if (SYNC_EACH_LAUNCH) { // a device fault then names its kernel instead of a later synchronisation
      check(cudart.cudaDeviceSynchronize(), "kernel " + launchDescription(name, gx, gy, gz, block, sharedBytes));
    }
  }

  private static String launchDescription(String name, int gx, int gy, int gz, int block, int sharedBytes) {
    return name + ", grid (" + gx + ", " + gy + ", " + gz + "), block " + block + ", " + sharedBytes
        + " bytes of dynamic shared memory";
  }

  // ------------------------------------------------------------------------------------------------------------
  // GEMMs: the row-major math as column-major cuBLAS calls is ColumnMajorGemm's.
  // ------------------------------------------------------------------------------------------------------------

  @Override
  public void linear(long out, long inp, long weight, long bias, int rows, int in, int outDim) {
    if (rows == 0) {
      return;
    }
    if (bias % 16 != 0) {
      throw new IllegalArgumentException("cuBLASLt's bias epilogue needs a 16-byte aligned bias (CudaBackend adds "
          + "others with a kernel)");
    }
    boolean epilogue = bias != 0;
    PointerPointer<Pointer> pp = new PointerPointer<>(1);
    checkCublas(cublas.cublasLtMatmulDescCreate(pp, CUBLAS_COMPUTE_32F, cudart.CUDA_R_32F), "matmul desc");
    cublasLtMatmulDescOpaque_t desc = new cublasLtMatmulDescOpaque_t(pp.get(0));
    ColumnMajorGemm g = ColumnMajorGemm.linear(rows, in, outDim);
    cublasLtMatrixLayoutOpaque_t a = layout(cudart.CUDA_R_16BF, g.aRows(), g.aColumns(), g.lda());
    cublasLtMatrixLayoutOpaque_t b = layout(cudart.CUDA_R_16BF, g.bRows(), g.bColumns(), g.ldb());
    cublasLtMatrixLayoutOpaque_t c = layout(cudart.CUDA_R_16BF, g.m(), g.n(), g.ldc());
    try (IntPointer opA = new IntPointer(new int[] {op(g.transA())});
        IntPointer opB = new IntPointer(new int[] {op(g.transB())});
        IntPointer epilogueBias = new IntPointer(new int[] {CUBLASLT_EPILOGUE_BIAS});
        LongPointer biasPointer = new LongPointer(new long[] {bias});
        FloatPointer alpha = new FloatPointer(1f);
        FloatPointer beta = new FloatPointer(0f)) {
      checkCublas(cublas.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, opA, 4), "TRANSA");
      checkCublas(cublas.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, opB, 4), "TRANSB");
      if (epilogue) {
        checkCublas(cublas.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogueBias, 4),
            "EPILOGUE");
        checkCublas(cublas.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, biasPointer, 8),
            "BIAS_POINTER");
      }
      GemmKey key = new GemmKey(rows, in, outDim, epilogue, alignment(weight), alignment(inp), alignment(out));
      checkCublas(cublas.cublasLtMatmul(ltHandle, desc, alpha, CudaBackend.ptr(weight), a, CudaBackend.ptr(inp), b,
          beta, CudaBackend.ptr(out), c, CudaBackend.ptr(out), c, algorithm(key, desc, a, b, c).algo(), workspace,
          GEMM_WORKSPACE_BYTES, (CUstream_st) null), "cublasLtMatmul(linear " + rows + "x" + in + "->" + outDim + ")");
    } finally {
      cublas.cublasLtMatrixLayoutDestroy(a);
      cublas.cublasLtMatrixLayoutDestroy(b);
      cublas.cublasLtMatrixLayoutDestroy(c);
      cublas.cublasLtMatmulDescDestroy(desc);
    }
  }

  /** One GEMM shape of {@link #linear}: with or without the bias epilogue, and its operands' alignments in bytes. */
  private record GemmKey(int rows, int in, int outDim, boolean biasEpilogue, int alignWeight, int alignInput,
      int alignOutput) {}

  /**
   * The cuBLASLt algorithm for a GEMM shape, chosen once. The heuristic is told the operands' real alignment: asked
   * with no algorithm, cuBLASLt assumes its default of 256 bytes, and the activations here are only 32-byte aligned.
   */
  private cublasLtMatmulHeuristicResult_t algorithm(GemmKey key, cublasLtMatmulDescOpaque_t desc,
      cublasLtMatrixLayoutOpaque_t a, cublasLtMatrixLayoutOpaque_t b, cublasLtMatrixLayoutOpaque_t c) {
    cublasLtMatmulHeuristicResult_t known = gemmAlgorithms.get(key);
    if (known != null) {
      return known;
    }
    PointerPointer<Pointer> pp = new PointerPointer<>(1);
    checkCublas(cublas.cublasLtMatmulPreferenceCreate(pp), "matmul preference");
    cublasLtMatmulPreferenceOpaque_t preference = new cublasLtMatmulPreferenceOpaque_t(pp.get(0));
    try (LongPointer workspaceBytes = new LongPointer(new long[] {GEMM_WORKSPACE_BYTES});
        IntPointer alignA = new IntPointer(new int[] {key.alignWeight()});
        IntPointer alignB = new IntPointer(new int[] {key.alignInput()});
        IntPointer alignC = new IntPointer(new int[] {key.alignOutput()});
        IntPointer found = new IntPointer(1)) {
      checkCublas(cublas.cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
          workspaceBytes, 8), "MAX_WORKSPACE_BYTES");
      checkCublas(cublas.cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
          alignA, 4), "MIN_ALIGNMENT_A_BYTES");
      checkCublas(cublas.cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
          alignB, 4), "MIN_ALIGNMENT_B_BYTES");
      checkCublas(cublas.cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
          alignC, 4), "MIN_ALIGNMENT_C_BYTES");
      checkCublas(cublas.cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
          alignC, 4), "MIN_ALIGNMENT_D_BYTES");
      cublasLtMatmulHeuristicResult_t result = new cublasLtMatmulHeuristicResult_t();
      checkCublas(cublas.cublasLtMatmulAlgoGetHeuristic(ltHandle, desc, a, b, c, c, preference, 1, result, found),
          "cublasLtMatmulAlgoGetHeuristic");
      if (found.get() == 0) {
        throw new IllegalStateException("cuBLASLt has no algorithm for " + key);
      }
      gemmAlgorithms.put(key, result);
      return result;
    } finally {
      cublas.cublasLtMatmulPreferenceDestroy(preference);
    }
  }

  /** The largest power of two up to 256 that divides a device address. */
  private static int alignment(long address) {
    return (int) Math.min(256, Long.lowestOneBit(address | 256));
  }

  private static cublasLtMatrixLayoutOpaque_t layout(int type, long rows, long cols, long ld) {
    PointerPointer<Pointer> pp = new PointerPointer<>(1);
    checkCublas(cublas.cublasLtMatrixLayoutCreate(pp, type, rows, cols, ld), "matrix layout");
    return new cublasLtMatrixLayoutOpaque_t(pp.get(0));
  }

  @Override
  public void linearWeightGradient(long dweight, long dout, long inp, int rows, int in, int outDim) {
    gemmEx(ColumnMajorGemm.weightGradient(rows, in, outDim), inp, dout, dweight, cudart.CUDA_R_32F, true,
        "cublasGemmEx(dweight)");
  }

  @Override
  public void linearInputGradient(long dinp, long dout, long weight, int rows, int in, int outDim,
      boolean accumulate) {
    gemmEx(ColumnMajorGemm.inputGradient(rows, in, outDim), weight, dout, dinp, cudart.CUDA_R_16BF, accumulate,
        "cublasGemmEx(dinp)");
  }

  /** C = op(A)·op(B) (+ C when accumulate) through cublasGemmEx: bf16 A and B, C of cType, float32 accumulation. */
  private void gemmEx(ColumnMajorGemm g, long a, long b, long c, int cType, boolean accumulate, String what) {
    if (g.m() == 0 || g.n() == 0 || g.k() == 0) {
      return;
    }
    try (FloatPointer one = new FloatPointer(1f); FloatPointer zero = new FloatPointer(0f)) {
      checkCublas(cublas.cublasGemmEx(cublasHandle, op(g.transA()), op(g.transB()), g.m(), g.n(), g.k(), one,
          CudaBackend.ptr(a), cudart.CUDA_R_16BF, g.lda(), CudaBackend.ptr(b), cudart.CUDA_R_16BF, g.ldb(),
          accumulate ? one : zero, CudaBackend.ptr(c), cType, g.ldc(), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), what);
    }
  }

  private static int op(boolean transpose) {
    return transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
  }

  @Override
  public void synchronize() {
    check(cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    // The calling thread's device may be another (CUDA keeps it per thread), and work may still run: settle both
    // first. Every resource is checked, for a close after a failed construction.
    cudart.cudaSetDevice(ordinal);
    cudart.cudaDeviceSynchronize();
    for (CUmod_st module : modules) {
      cudart.cuModuleUnload(module);
    }
    for (cublasLtMatmulHeuristicResult_t result : gemmAlgorithms.values()) {
      result.close();
    }
    if (!ltHandle.isNull()) {
      cublas.cublasLtDestroy(ltHandle);
    }
    if (!cublasHandle.isNull()) {
      cublas.cublasDestroy_v2(cublasHandle);
    }
    if (!pinned.isNull()) {
      cudart.cudaFreeHost(pinned);
    }
    if (!workspace.isNull()) {
      cudart.cudaFree(workspace);
    }
    if (arena != null) {
      cudart.cudaFree(arena);
    }
    kernelArguments.close();
  }

  // ------------------------------------------------------------------------------------------------------------
  // Compiling: NVRTC to CUBIN for this device's architecture, cached by source, architecture and NVRTC version.
  // ------------------------------------------------------------------------------------------------------------

  /** The options every kernel file is compiled with (common.cuh's header says why there is no fast math). */
  static String[] options(String arch) {
    return new String[] {"-std=c++17", "--gpu-architecture=" + arch};
  }

  static Path cacheDir() {
    String configured = System.getProperty("mosaicbert.cuda.cache");
    return configured != null ? Path.of(configured)
        : Path.of(System.getProperty("java.io.tmpdir"), "mosaicbert-cuda-" + System.getProperty("user.name"));
  }

  private void loadModule(String source) {
    String code = Device.resource(source + ".cu");
    String header = Device.resource("common.cuh");
    String key;
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(code.getBytes(StandardCharsets.UTF_8));
      sha.update(header.getBytes(StandardCharsets.UTF_8));
      sha.update(String.join(" ", options(arch)).getBytes(StandardCharsets.UTF_8));
      int[] major = new int[1];
      int[] minor = new int[1];
      nvrtc.nvrtcVersion(major, minor); // another NVRTC may compile the same source differently
      sha.update(("nvrtc " + major[0] + "." + minor[0]).getBytes(StandardCharsets.UTF_8));
      key = HexFormat.of().formatHex(sha.digest()).substring(0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    Path cached = cacheDir().resolve(source + "-" + arch + "-" + key + ".cubin");
    byte[] cubin;
    try {
      if (Files.isRegularFile(cached)) {
        cubin = Files.readAllBytes(cached);
      } else {
        cubin = compile(source, code, header);
        Files.createDirectories(cached.getParent());
        Path tmp = Files.createTempFile(cached.getParent(), source, ".tmp");
        Files.write(tmp, cubin);
        Files.move(tmp, cached, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("kernel cache " + cached, e);
    }
    CUmod_st module = new CUmod_st();
    try (BytePointer image = new BytePointer(cubin)) {
      check(cudart.cuModuleLoadData(module, image), "cuModuleLoadData(" + source + ")");
    }
    modules.add(module);
    for (KernelSignatures.Kernel kernel : signatures.inFile(source + ".cu")) {
      CUfunc_st function = new CUfunc_st();
      check(cudart.cuModuleGetFunction(function, module, kernel.name()), "cuModuleGetFunction(" + kernel.name()
          + ")");
      functions.put(kernel.name(), function);
    }
  }

  private byte[] compile(String source, String code, String header) {
    _nvrtcProgram program = new _nvrtcProgram();
    try (BytePointer src = new BytePointer(code); BytePointer name = new BytePointer(source + ".cu");
        PointerPointer<BytePointer> headers = cStrings(header);
        PointerPointer<BytePointer> includeNames = cStrings("common.cuh")) {
      checkNvrtc(nvrtc.nvrtcCreateProgram(program, src, name, 1, headers, includeNames), "nvrtcCreateProgram");
      String[] opts = options(arch);
      int err;
      try (PointerPointer<BytePointer> options = cStrings(opts)) {
        err = nvrtc.nvrtcCompileProgram(program, opts.length, options);
      }
      if (err != 0) {
        throw new IllegalStateException("NVRTC could not compile " + source + ".cu for " + arch + ": "
            + nvrtc.nvrtcGetErrorString(err).getString() + "\n" + log(program));
      }
      try (SizeTPointer size = new SizeTPointer(1)) {
        checkNvrtc(nvrtc.nvrtcGetCUBINSize(program, size), "nvrtcGetCUBINSize");
        byte[] cubin = new byte[(int) size.get()];
        checkNvrtc(nvrtc.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN");
        LOG.info("compiled {}.cu for {} with NVRTC ({} bytes of CUBIN)", source, arch, cubin.length);
        return cubin;
      }
    } finally {
      nvrtc.nvrtcDestroyProgram(program);
    }
  }

  /**
   * A C array of NUL-terminated UTF-8 strings ({@code const char* const*}). Not {@code new PointerPointer<>(new
   * BytePointer(text))}: with one argument that is PointerPointer's cast constructor, which reads the text's bytes as
   * pointers (NVRTC then crashes in strlen).
   */
  static PointerPointer<BytePointer> cStrings(String... values) {
    return new PointerPointer<>(values, StandardCharsets.UTF_8);
  }

  private static String log(_nvrtcProgram program) {
    try (SizeTPointer size = new SizeTPointer(1)) {
      nvrtc.nvrtcGetProgramLogSize(program, size);
      byte[] text = new byte[(int) size.get()];
      nvrtc.nvrtcGetProgramLog(program, text);
      return new String(text, StandardCharsets.UTF_8).trim();
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Errors
  // ------------------------------------------------------------------------------------------------------------

  private static void check(int err, String what) {
    if (err != 0) {
      throw new IllegalStateException("CUDA error in " + what + ": " + CudaProbe.errorString(err));
    }
  }

  private static void checkCublas(int err, String what) {
    if (err != 0) {
      throw new IllegalStateException("cuBLAS error " + err + " in " + what);
    }
  }

  private static void checkNvrtc(int err, String what) {
    if (err != 0) {
      throw new IllegalStateException("NVRTC error in " + what + ": " + nvrtc.nvrtcGetErrorString(err).getString());
    }
  }
}
