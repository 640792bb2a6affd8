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
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulAlgo_t;
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
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.backend.View;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link Backend} on one NVIDIA GPU (sm_80 or newer): the CUDA C kernels shipped as resources next to this class,
 * compiled at run time with NVRTC to a CUBIN for the device's architecture (cached per device), and bf16 GEMMs with
 * float32 accumulation through cuBLASLt (bias epilogue) and cublasGemmEx.
 *
 * <p><b>NEVER RUN ON A GPU.</b> This class was written and compiled on a machine without a GPU or CUDA driver; not one
 * line of it has executed. Treat every result it gives as unverified until the GPU parity suite has passed.
 *
 * <p>Memory: one arena of {@code arenaBytes}, allocated with cudaMalloc in the constructor; {@link #allocate} and the
 * backend's own scratch carve from it, and nothing is allocated on the device afterwards. A buffer of {@code floats}
 * floats takes 4 bytes per float whatever it holds, so that a {@link View}'s float offset is a byte offset times 4 in
 * every buffer. What a view holds depends on its buffer and on the method it is passed to:
 * <ul>
 *   <li>buffers named {@code parameters} hold the float32 master weights and, beside them in the arena, a bf16 compute
 *   copy (the {@code shadow}) that kernels and GEMMs read as weights; {@link #upload} and {@link #adamw} keep it in
 *   step;
 *   <li>buffers named {@code gradients} or {@code adamw.*} hold float32 (parameter gradients, moments);
 *   <li>every other buffer (activations, scratch) holds bf16 tensors, packed 2 bytes per element from the view's
 *   address, except the statistics the methods name as float32: LayerNorm's mean and rstd, and attention's
 *   {@code probs}, which here holds the logsumexp {@code [heads, nnz]} float32 (not P).
 * </ul>
 * {@link #upload} and {@link #download} convert float32 to and from bf16 for bf16 buffers;
 * {@link #downloadFloat32} reads a statistic as stored.
 *
 * <p>Host arrays (token ids, cu_seqlens, labels, dropout row keys, slopes) are copied into a staging region of the
 * arena per call. Everything runs on the legacy default stream, so a staging copy waits for the kernels before it;
 * downloads synchronise.
 *
 * <p>Attention: attention.cu's tensor-core kernels for head dimension 64 (every preset), attention_small.cu's per-row
 * kernels for 16 and 32 (the golden vectors' configuration); other head dimensions are refused. Both files also run
 * on the CPU in AttentionKernelsOnHostTest, against CpuBackend.
 *
 * <p>Training: {@code device=gpu} fits run {@code DataParallelTrainer} on {@link #open} with {@code NcclCollective}
 * reducing the gradients in device memory.
 *
 * <p>Known gaps: {@link #scale} works on float32 buffers only; dropout is not yet fused into LayerNorm/GeGLU (the
 * kernels can, MosaicBert's call order does not ask for it); a regression head's one output column is bf16 like
 * every activation, so its predictions and MSE gradient carry 8 mantissa bits (the CPU's are float32); MosaicBert
 * sizes each layer's probs buffer for the CPU's P matrices (heads·tokens·maxSeqLen floats) where this backend uses
 * heads·tokens (about 1.1 GiB of arena unused for base at micro-batch 128 x 128); hidden sizes above 1024 are refused.
 */
public final class CudaBackend implements Backend {
  private static final Logger LOG = LoggerFactory.getLogger(CudaBackend.class);
  static final String[] SOURCES = {"adamw", "attention", "attention_small", "elementwise", "embedding",
      "layernorm", "loss", "reduce", "unpad"};
  private static final long ALIGN = 256;
  private static final long STAGING_BYTES = 64L << 20;
  private static final long GEMM_WORKSPACE_BYTES = 32L << 20;
  /** Floats converted per round trip through the staging region in upload and download of bf16 tensors. */
  private static final int STAGING_CHUNK = 4 << 20;
  private static final int LN_BACKWARD_BLOCKS = 256;
  private static final int BIAS_CHUNKS_MAX = 64;

  private enum Kind { PARAMS, F32, BF16 }

  /** A region of the arena. */
  final class CudaBuffer implements Buffer {
    final long address;
    final long shadow;
    final long floats;
    final String name;
    final Kind kind;

    CudaBuffer(long address, long shadow, long floats, String name, Kind kind) {
      this.address = address;
      this.shadow = shadow;
      this.floats = floats;
      this.name = name;
      this.kind = kind;
    }

    @Override
    public long size() {
      return floats;
    }

    @Override
    public String name() {
      return name;
    }
  }

  private final int device;
  private final String arch;
  private final Pointer arena;
  private final long arenaBase;
  private final long arenaBytes;
  private long arenaUsed;
  private final long staging;
  private final long gemmWorkspace;
  private final cublasContext cublasHandle;
  private final cublasLtContext ltHandle;
  private final Map<String, CUfunc_st> functions = new HashMap<>();
  private final List<CUmod_st> modules = new ArrayList<>();
  /**
   * crossEntropy's own device memory for one probs view, carved on its first use for as many rows as the view's
   * buffer can hold (so that a later, larger micro-batch fits): the float32 logsumexp per row, and per-row losses
   * (float32) and hits (int) for the host to sum.
   */
  private record LossRegion(long lse, long losses, long hits, long capacity) {}

  private final Map<View, LossRegion> lossRegions = new HashMap<>();
  private final Map<GemmKey, cublasLtMatmulHeuristicResult_t> gemmAlgorithms = new HashMap<>();
  /** crossEntropy: per probs view, the logits view its backward pass reads. */
  private final Map<View, View> crossEntropyLogits = new HashMap<>();
  private boolean closed;

  /** The system property that sets the share of the device's free memory {@link #open} takes for its arena. */
  public static final String MEMORY_FRACTION_PROPERTY = "mosaicbert.cuda.memoryFraction";

  /**
   * Opens device {@code device} with an arena of a share of its free memory: {@value #MEMORY_FRACTION_PROPERTY}
   * (default 0.75, JAX's default; the rest is for NCCL's and cuBLAS's own buffers and the CUDA context). Training
   * owns its GPU, so the arena is sized by the device rather than by a count of every buffer the model will carve.
   */
  public static CudaBackend open(int device) {
    double fraction = Double.parseDouble(System.getProperty(MEMORY_FRACTION_PROPERTY, "0.75"));
    if (!(fraction > 0 && fraction < 1)) {
      throw new IllegalArgumentException(MEMORY_FRACTION_PROPERTY + " = " + fraction + " is not in (0, 1)");
    }
    requireCuda();
    check(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
    try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
      check(cudart.cudaMemGetInfo(free, total), "cudaMemGetInfo");
      long bytes = (long) (free.get() * fraction) - STAGING_BYTES - GEMM_WORKSPACE_BYTES;
      LOG.info("CudaBackend on device {}: {} MiB free of {} MiB; arena {} MiB ({} = {})", device, free.get() >> 20,
          total.get() >> 20, bytes >> 20, MEMORY_FRACTION_PROPERTY, fraction);
      return new CudaBackend(device, bytes);
    }
  }

  /**
   * Opens device {@code device} (a CUDA ordinal: the barrier task's GPU address), allocates the arena, creates the
   * cuBLAS handles and compiles (or loads from the cache) the kernels. Call only after {@link CudaProbe#available()}.
   */
  public CudaBackend(int device, long arenaBytes) {
    requireCuda();
    this.device = device;
    check(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
    check(cudart.cudaFree(null), "cudaFree(0) (creating the primary context)");
    int[] major = new int[1];
    int[] minor = new int[1];
    check(cudart.cudaDeviceGetAttribute(major, cudart.cudaDevAttrComputeCapabilityMajor, device), "compute capability");
    check(cudart.cudaDeviceGetAttribute(minor, cudart.cudaDevAttrComputeCapabilityMinor, device), "compute capability");
    this.arch = "sm_" + major[0] + minor[0];
    LOG.warn("CudaBackend on device {} ({}): this backend has NEVER BEEN RUN ON A GPU before; check the GPU parity "
        + "suite's result before trusting it", device, arch);
    this.arenaBytes = arenaBytes + STAGING_BYTES + GEMM_WORKSPACE_BYTES;
    this.arena = new Pointer();
    check(cudart.cudaMalloc(arena, this.arenaBytes), "cudaMalloc(" + this.arenaBytes + " bytes)");
    this.arenaBase = arena.address();
    check(cudart.cudaMemset(arena, 0, this.arenaBytes), "cudaMemset(arena)");
    this.staging = carve(STAGING_BYTES);
    this.gemmWorkspace = carve(GEMM_WORKSPACE_BYTES);
    this.cublasHandle = new cublasContext();
    checkCublas(cublas.cublasCreate_v2(cublasHandle), "cublasCreate");
    this.ltHandle = new cublasLtContext();
    checkCublas(cublas.cublasLtCreate(ltHandle), "cublasLtCreate");
    for (String source : SOURCES) {
      loadModule(source);
    }
  }

  /** Fails with the probe's reason (missing driver or library) before any CUDA call could fail to link. */
  private static void requireCuda() {
    CudaProbe.Result probe = CudaProbe.probe();
    if (!probe.available()) {
      throw new IllegalStateException("CudaBackend: " + probe.describe());
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Memory
  // ------------------------------------------------------------------------------------------------------------

  private long carve(long bytes) {
    long at = (arenaUsed + ALIGN - 1) / ALIGN * ALIGN;
    if (at + bytes > arenaBytes) {
      throw new IllegalStateException("CudaBackend: the arena of " + arenaBytes + " bytes is full (" + at + " used, "
          + bytes + " more asked); lower the micro-batch size or max_seq_len, or raise " + MEMORY_FRACTION_PROPERTY);
    }
    arenaUsed = at + bytes;
    return arenaBase + at;
  }

  @Override
  public Buffer allocate(long floats, String name) {
    Kind kind = name.equals("parameters") ? Kind.PARAMS
        : name.equals("gradients") || name.startsWith("adamw.") ? Kind.F32 : Kind.BF16;
    long address = carve(4 * floats);
    long shadow = kind == Kind.PARAMS ? carve(2 * floats) : 0;
    return new CudaBuffer(address, shadow, floats, name, kind);
  }

  private static CudaBuffer buf(View v) {
    return (CudaBuffer) v.buffer();
  }

  /** The view as float32 (master weights, gradients, moments, statistics). */
  private static long f32(View v) {
    return v == null ? 0 : buf(v).address + 4 * v.offset();
  }

  /**
   * The device address of a float32 view (gradients, moments, master weights): what a collective such as NCCL
   * reduces in place.
   */
  public long float32Address(View v) {
    if (buf(v).kind == Kind.BF16) {
      throw new IllegalArgumentException("buffer " + buf(v).name + " holds bf16, not float32");
    }
    return f32(v);
  }

  /** The view as bf16: the compute copy of parameters, else the packed bf16 tensor at the view's address. */
  private static long bf16(View v) {
    if (v == null) {
      return 0;
    }
    CudaBuffer b = buf(v);
    if (b.kind == Kind.PARAMS) {
      return b.shadow + 2 * v.offset();
    }
    if (b.kind == Kind.F32) {
      throw new IllegalArgumentException("buffer " + b.name + " holds float32, not bf16");
    }
    return b.address + 4 * v.offset();
  }

  /** Staging slots for host arrays of one call, carved front to back from the staging region. */
  private final class Staging {
    private long used;

    long put(int[] a) {
      long at = take(4L * a.length);
      if (a.length > 0) {
        try (IntPointer p = new IntPointer(a)) {
          check(cudart.cudaMemcpy(ptr(at), p, 4L * a.length, cudart.cudaMemcpyHostToDevice), "cudaMemcpy(ints)");
        }
      }
      return at;
    }

    long put(long[] a) {
      long at = take(8L * a.length);
      if (a.length > 0) {
        try (LongPointer p = new LongPointer(a)) {
          check(cudart.cudaMemcpy(ptr(at), p, 8L * a.length, cudart.cudaMemcpyHostToDevice), "cudaMemcpy(longs)");
        }
      }
      return at;
    }

    long put(float[] a, int offset, int n) {
      long at = take(4L * n);
      if (n > 0) {
        try (FloatPointer p = new FloatPointer(n)) {
          p.put(a, offset, n);
          check(cudart.cudaMemcpy(ptr(at), p, 4L * n, cudart.cudaMemcpyHostToDevice), "cudaMemcpy(floats)");
        }
      }
      return at;
    }

    long take(long bytes) {
      long at = (used + 15) / 16 * 16;
      if (at + bytes > STAGING_BYTES) {
        throw new IllegalStateException("CudaBackend: " + bytes + " bytes do not fit the staging region");
      }
      used = at + bytes;
      return staging + at;
    }
  }

  /** A JavaCPP pointer to a device address (for cudaMemcpy, cuBLAS and NCCL). */
  public static Pointer ptr(long address) {
    return new Pointer() {
      {
        this.address = address;
      }
    };
  }

  @Override
  public void upload(View dst, float[] src, int srcOffset, int n) {
    CudaBuffer b = buf(dst);
    if (b.kind == Kind.BF16) {
      for (int done = 0; done < n; done += STAGING_CHUNK) {
        int part = Math.min(STAGING_CHUNK, n - done);
        long at = new Staging().put(src, srcOffset + done, part);
        launch("cast_f32_to_bf16", grid(part), 1, 1, 256, 0, ptrArg(bf16(dst.at(done))), ptrArg(at), (long) part);
      }
      return;
    }
    try (FloatPointer p = new FloatPointer(n)) {
      p.put(src, srcOffset, n);
      check(cudart.cudaMemcpy(ptr(f32(dst)), p, 4L * n, cudart.cudaMemcpyHostToDevice), "upload");
    }
    refreshShadow(dst, n);
  }

  @Override
  public void download(float[] dst, int dstOffset, View src, int n) {
    if (buf(src).kind == Kind.BF16) {
      for (int done = 0; done < n; done += STAGING_CHUNK) {
        int part = Math.min(STAGING_CHUNK, n - done);
        long at = new Staging().take(4L * part);
        launch("cast_bf16_to_f32", grid(part), 1, 1, 256, 0, ptrArg(at), ptrArg(bf16(src.at(done))), (long) part);
        copyToHost(dst, dstOffset + done, at, part);
      }
    } else {
      copyToHost(dst, dstOffset, f32(src), n);
    }
  }

  /** Reads n float32 values as stored (LayerNorm mean/rstd, attention logsumexp), whatever the buffer's kind. */
  public void downloadFloat32(float[] dst, int dstOffset, View src, int n) {
    copyToHost(dst, dstOffset, f32(src), n);
  }

  private static void copyToHost(float[] dst, int dstOffset, long address, int n) {
    try (FloatPointer p = new FloatPointer(n)) {
      check(cudart.cudaMemcpy(p, ptr(address), 4L * n, cudart.cudaMemcpyDeviceToHost), "download");
      p.get(dst, dstOffset, n);
    }
  }

  @Override
  public void zero(View x, long n) {
    CudaBuffer b = buf(x);
    check(cudart.cudaMemset(ptr(f32(x)), 0, 4 * n), "cudaMemset");
    if (b.kind == Kind.PARAMS) {
      check(cudart.cudaMemset(ptr(bf16(x)), 0, 2 * n), "cudaMemset(shadow)");
    }
  }

  @Override
  public void copy(View dst, View src, long n) {
    Kind d = buf(dst).kind;
    Kind s = buf(src).kind;
    if (d == Kind.BF16 && s == Kind.BF16) {
      check(cudart.cudaMemcpy(ptr(bf16(dst)), ptr(bf16(src)), 2 * n, cudart.cudaMemcpyDeviceToDevice), "copy");
    } else if (d == Kind.BF16) {
      launch("cast_f32_to_bf16", grid(n), 1, 1, 256, 0, ptrArg(bf16(dst)), ptrArg(f32(src)), n);
    } else if (s == Kind.BF16) {
      launch("cast_bf16_to_f32", grid(n), 1, 1, 256, 0, ptrArg(f32(dst)), ptrArg(bf16(src)), n);
      refreshShadow(dst, n);
    } else {
      check(cudart.cudaMemcpy(ptr(f32(dst)), ptr(f32(src)), 4 * n, cudart.cudaMemcpyDeviceToDevice), "copy");
      refreshShadow(dst, n);
    }
  }

  @Override
  public void scale(View x, long n, float s) {
    if (buf(x).kind == Kind.BF16) {
      throw new UnsupportedOperationException("CudaBackend.scale works on float32 buffers (gradients) only, not "
          + buf(x).name);
    }
    launch("scale_f32", grid(n), 1, 1, 256, 0, ptrArg(f32(x)), n, s);
    refreshShadow(x, n);
  }

  /** After a float32 write into a parameters buffer: its bf16 compute copy follows. */
  private void refreshShadow(View x, long n) {
    if (buf(x).kind == Kind.PARAMS) {
      launch("cast_f32_to_bf16", grid(n), 1, 1, 256, 0, ptrArg(bf16(x)), ptrArg(f32(x)), n);
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // GEMMs: row-major y[rows, out] = x[rows, in] · W[out, in]ᵀ is, column-major, yᵀ[out, rows] = Wᵀ · xᵀ with W read
  // as a column-major [in, out] matrix (transposed) and x as a column-major [in, rows] one.
  // ------------------------------------------------------------------------------------------------------------

  @Override
  public void linear(View out, View inp, View weight, View bias, int rows, int in, int outDim) {
    if (rows == 0) {
      return;
    }
    // cuBLASLt's bias epilogue faults on a bias under 16-byte alignment (a vocabulary that is not a multiple of 8
    // shifts the pooler and classifier behind the MLM decoder's bias): such a bias is added by a kernel afterwards.
    boolean epilogue = bias != null && bf16(bias) % 16 == 0;
    PointerPointer<Pointer> pp = new PointerPointer<>(1);
    checkCublas(cublas.cublasLtMatmulDescCreate(pp, CUBLAS_COMPUTE_32F, cudart.CUDA_R_32F), "matmul desc");
    cublasLtMatmulDescOpaque_t desc = new cublasLtMatmulDescOpaque_t(pp.get(0));
    cublasLtMatrixLayoutOpaque_t a = layout(cudart.CUDA_R_16BF, in, outDim, in);
    cublasLtMatrixLayoutOpaque_t b = layout(cudart.CUDA_R_16BF, in, rows, in);
    cublasLtMatrixLayoutOpaque_t c = layout(cudart.CUDA_R_16BF, outDim, rows, outDim);
    try (IntPointer opT = new IntPointer(new int[] {CUBLAS_OP_T});
        IntPointer opN = new IntPointer(new int[] {CUBLAS_OP_N});
        IntPointer epilogueBias = new IntPointer(new int[] {CUBLASLT_EPILOGUE_BIAS});
        LongPointer biasPointer = new LongPointer(new long[] {bf16(bias)});
        FloatPointer alpha = new FloatPointer(1f);
        FloatPointer beta = new FloatPointer(0f)) {
      checkCublas(cublas.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, opT, 4), "TRANSA");
      checkCublas(cublas.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, opN, 4), "TRANSB");
      if (epilogue) {
        checkCublas(cublas.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogueBias, 4),
            "EPILOGUE");
        checkCublas(cublas.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, biasPointer, 8),
            "BIAS_POINTER");
      }
      GemmKey key = new GemmKey(rows, in, outDim, epilogue, alignment(bf16(weight)), alignment(bf16(inp)),
          alignment(bf16(out)));
      checkCublas(cublas.cublasLtMatmul(ltHandle, desc, alpha, ptr(bf16(weight)), a, ptr(bf16(inp)), b, beta,
          ptr(bf16(out)), c, ptr(bf16(out)), c, algorithm(key, desc, a, b, c).algo(), ptr(gemmWorkspace),
          GEMM_WORKSPACE_BYTES, (CUstream_st) null), "cublasLtMatmul(linear " + rows + "x" + in + "->" + outDim + ")");
    } finally {
      cublas.cublasLtMatrixLayoutDestroy(a);
      cublas.cublasLtMatrixLayoutDestroy(b);
      cublas.cublasLtMatrixLayoutDestroy(c);
      cublas.cublasLtMatmulDescDestroy(desc);
    }
    if (bias != null && !epilogue) {
      launch("add_bias_rows", grid((long) rows * outDim), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(bias)),
          (long) rows, outDim);
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
    try (LongPointer workspace = new LongPointer(new long[] {GEMM_WORKSPACE_BYTES});
        IntPointer alignA = new IntPointer(new int[] {key.alignWeight()});
        IntPointer alignB = new IntPointer(new int[] {key.alignInput()});
        IntPointer alignC = new IntPointer(new int[] {key.alignOutput()});
        IntPointer found = new IntPointer(1)) {
      checkCublas(cublas.cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
          workspace, 8), "MAX_WORKSPACE_BYTES");
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
  public void linearBackward(View dinp, boolean accumulate, View dweight, View dbias, View dout, View inp,
      View weight, int rows, int in, int outDim) {
    if (rows == 0) {
      return;
    }
    try (FloatPointer one = new FloatPointer(1f); FloatPointer zero = new FloatPointer(0f)) {
      // dweight[out, in] += doutᵀ · inp: column-major dWᵀ[in, out] = inpᵀ[in, rows] · dout[rows, out].
      checkCublas(cublas.cublasGemmEx(cublasHandle, CUBLAS_OP_N, CUBLAS_OP_T, in, outDim, rows, one,
          ptr(bf16(inp)), cudart.CUDA_R_16BF, in, ptr(bf16(dout)), cudart.CUDA_R_16BF, outDim, one,
          ptr(f32(dweight)), cudart.CUDA_R_32F, in, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "cublasGemmEx(dweight)");
      if (dinp != null) {
        // dinp[rows, in] = dout · W: column-major dinpᵀ[in, rows] = Wᵀ[in, out] · doutᵀ[out, rows].
        checkCublas(cublas.cublasGemmEx(cublasHandle, CUBLAS_OP_N, CUBLAS_OP_N, in, rows, outDim, one,
            ptr(bf16(weight)), cudart.CUDA_R_16BF, in, ptr(bf16(dout)), cudart.CUDA_R_16BF, outDim,
            accumulate ? one : zero, ptr(bf16(dinp)), cudart.CUDA_R_16BF, in, CUBLAS_COMPUTE_32F,
            CUBLAS_GEMM_DEFAULT), "cublasGemmEx(dinp)");
      }
    }
    if (dbias != null) {
      int chunks = Math.max(1, Math.min((rows + 255) / 256, BIAS_CHUNKS_MAX));
      long partials = new Staging().take(4L * chunks * outDim);
      launch("bias_grad_partials", (outDim + 63) / 64, chunks, 1, 256, 0, ptrArg(partials), ptrArg(bf16(dout)), rows,
          outDim);
      launch("sum_partials", (outDim + 255) / 256, 1, 1, 256, 0, ptrArg(f32(dbias)), ptrArg(partials), chunks,
          outDim);
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Kernels
  // ------------------------------------------------------------------------------------------------------------

  @Override
  public void embedding(View out, int[] ids, int[] typeIds, View word, View type, int n, int hidden) {
    Staging s = new Staging();
    long dIds = s.put(Arrays.copyOf(ids, n));
    long dTypes = s.put(Arrays.copyOf(typeIds, n));
    launch("embedding_forward", grid((long) n * hidden / 8), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(dIds),
        ptrArg(dTypes), ptrArg(bf16(word)), ptrArg(bf16(type)), n, hidden);
  }

  @Override
  public void embeddingBackward(View dword, View dtype, View dout, int[] ids, int[] typeIds, int n, int hidden,
      int padId) {
    scatterSegments(dword, dout, ids, n, hidden, padId);
    scatterSegments(dtype, dout, typeIds, n, hidden, -1);
  }

  /** embedding.cu's deterministic segmented scatter-add of dout rows into table rows ids[i] (pad id left out). */
  private void scatterSegments(View dtable, View dout, int[] ids, int n, int hidden, int padId) {
    Integer[] order = new Integer[n];
    int kept = 0;
    for (int i = 0; i < n; i++) {
      if (ids[i] != padId) {
        order[kept++] = i;
      }
    }
    Integer[] rowsSorted = Arrays.copyOf(order, kept);
    Arrays.sort(rowsSorted, (x, y) -> ids[x] != ids[y] ? Integer.compare(ids[x], ids[y]) : Integer.compare(x, y));
    int[] rows = new int[kept];
    List<Integer> segBegin = new ArrayList<>();
    List<Integer> segId = new ArrayList<>();
    List<Integer> segSlot = new ArrayList<>();
    List<Integer> groupId = new ArrayList<>();
    List<Integer> groupSlot = new ArrayList<>();
    int slots = 0;
    int i = 0;
    while (i < kept) {
      int id = ids[rowsSorted[i]];
      int end = i;
      while (end < kept && ids[rowsSorted[end]] == id) {
        end++;
      }
      int segments = (end - i + 31) / 32;
      if (segments > 1) {
        groupId.add(id);
        groupSlot.add(slots);
      }
      for (int k = 0; k < segments; k++) {
        segBegin.add(i + 32 * k);
        segId.add(id);
        segSlot.add(segments > 1 ? slots++ : -1);
      }
      for (int k = i; k < end; k++) {
        rows[k] = rowsSorted[k];
      }
      i = end;
    }
    segBegin.add(kept);
    groupSlot.add(slots);
    int numSegments = segId.size();
    if (numSegments == 0) {
      return;
    }
    Staging s = new Staging();
    long dRows = s.put(rows);
    long dBegin = s.put(toInts(segBegin));
    long dSegId = s.put(toInts(segId));
    long dSegSlot = s.put(toInts(segSlot));
    long dGroupId = s.put(toInts(groupId));
    long dGroupSlot = s.put(toInts(groupSlot));
    long partials = s.take(4L * Math.max(1, slots) * hidden);
    launch("embedding_backward_segments", numSegments, 1, 1, 128, 0, ptrArg(f32(dtable)), ptrArg(partials),
        ptrArg(bf16(dout)), ptrArg(dRows), ptrArg(dBegin), ptrArg(dSegId), ptrArg(dSegSlot), numSegments, hidden,
        padId);
    if (!groupId.isEmpty()) {
      launch("embedding_backward_combine", groupId.size(), 1, 1, 128, 0, ptrArg(f32(dtable)), ptrArg(partials),
          ptrArg(dGroupId), ptrArg(dGroupSlot), groupId.size(), hidden, padId);
    }
  }

  private static int[] toInts(List<Integer> list) {
    return list.stream().mapToInt(Integer::intValue).toArray();
  }

  @Override
  public void add(View out, View a, View b, long n) {
    launch("add_bf16", grid(n), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(a)), ptrArg(bf16(b)), n);
  }

  @Override
  public void layerNorm(View out, View mean, View rstd, View inp, View w, View b, int n, int hidden, float eps) {
    checkLayerNormWidth(hidden);
    if (n == 0) {
      return; // a micro-batch with no masked token reaches the MLM head's LayerNorm with no rows
    }
    launch("layernorm_forward", (n + 7) / 8, 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(0), ptrArg(f32(mean)),
        ptrArg(f32(rstd)), ptrArg(bf16(inp)), ptrArg(0), ptrArg(bf16(w)), ptrArg(bf16(b)), n, hidden, eps, 0f,
        ptrArg(0), 0L);
  }

  @Override
  public void layerNormBackward(View dinp, View dw, View db, View dout, View inp, View w, View mean, View rstd, int n,
      int hidden) {
    checkLayerNormWidth(hidden);
    long partials = new Staging().take(4L * LN_BACKWARD_BLOCKS * 2 * hidden);
    launch("layernorm_backward", LN_BACKWARD_BLOCKS, 1, 1, 128, 32 * hidden, ptrArg(bf16(dinp)), ptrArg(0),
        ptrArg(partials), ptrArg(bf16(dout)), ptrArg(bf16(inp)), ptrArg(bf16(w)), ptrArg(f32(mean)),
        ptrArg(f32(rstd)), n, hidden, 0f, ptrArg(0), 0L);
    launch("layernorm_param_grads", (hidden + 255) / 256, 1, 1, 256, 0, ptrArg(f32(dw)), ptrArg(f32(db)),
        ptrArg(partials), LN_BACKWARD_BLOCKS, hidden);
  }

  /** layernorm.cu keeps a row in registers, 4 chunks of 256 columns at most, in multiples of 8 (every preset). */
  private static void checkLayerNormWidth(int hidden) {
    if (hidden > 1024 || hidden % 8 != 0) {
      throw new IllegalArgumentException("CudaBackend: LayerNorm takes hidden sizes up to 1024 in multiples of 8, not "
          + hidden + "; train this configuration on the CPU");
    }
  }

  /** elementwise.cu's GeGLU kernels move 8 bf16 at a time. */
  private static void checkGegluWidth(int intermediate) {
    if (intermediate % 8 != 0) {
      throw new IllegalArgumentException("CudaBackend: GeGLU takes intermediate sizes in multiples of 8, not "
          + intermediate + "; train this configuration on the CPU");
    }
  }

  @Override
  public void dropout(View x, int rows, int width, float p, long[] rowKeys, long site) {
    if (!(p > 0) || rows == 0) {
      return;
    }
    long keys = new Staging().put(Arrays.copyOf(rowKeys, rows));
    launch("dropout_forward", (width + 255) / 256, Math.min(rows, 65535), 1, 256, 0, ptrArg(bf16(x)), rows, width, p,
        ptrArg(keys), site);
  }

  @Override
  public void geglu(View out, View g, int n, int intermediate) {
    checkGegluWidth(intermediate);
    launch("geglu_forward", grid((long) n * intermediate / 8), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(g)), n,
        intermediate, 0f, ptrArg(0), 0L);
  }

  @Override
  public void gegluBackward(View dg, View dout, View g, int n, int intermediate) {
    checkGegluWidth(intermediate);
    launch("geglu_backward", grid((long) n * intermediate / 8), 1, 1, 256, 0, ptrArg(bf16(dg)), ptrArg(bf16(dout)),
        ptrArg(bf16(g)), n, intermediate, 0f, ptrArg(0), 0L);
  }

  @Override
  public void gelu(View out, View inp, long n) {
    launch("gelu_forward", grid(n), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(inp)), n);
  }

  @Override
  public void geluBackward(View dinp, View dout, View inp, long n) {
    launch("gelu_backward", grid(n), 1, 1, 256, 0, ptrArg(bf16(dinp)), ptrArg(bf16(dout)), ptrArg(bf16(inp)), n);
  }

  @Override
  public void tanh(View out, View inp, long n) {
    launch("tanh_forward", grid(n), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(inp)), n);
  }

  @Override
  public void tanhBackward(View dinp, View dout, View out, long n) {
    launch("tanh_backward", grid(n), 1, 1, 256, 0, ptrArg(bf16(dinp)), ptrArg(bf16(dout)), ptrArg(bf16(out)), n);
  }

  private static int maxSeqLen(int[] cuSeqlens, int numSeqs) {
    int longest = 1;
    for (int b = 0; b < numSeqs; b++) {
      longest = Math.max(longest, cuSeqlens[b + 1] - cuSeqlens[b]);
    }
    return longest;
  }

  /** attention.cu's tensor-core kernels take head dimension 64; attention_small.cu's per-row kernels 16 and 32. */
  private static boolean smallHeads(int headDim) {
    if (headDim == 64) {
      return false;
    }
    if (headDim == 16 || headDim == 32) {
      return true;
    }
    throw new IllegalArgumentException("CudaBackend: attention takes head dimension 16, 32 or 64 (hidden size / "
        + "heads), not " + headDim + "; choose numAttentionHeads to match, or train on the CPU");
  }

  /** probs holds the logsumexp float32 [heads, nnz] here (probsOffsets is ignored). */
  @Override
  public void attention(View ctx, View probs, View qkv, int[] cuSeqlens, long[] probsOffsets, int numSeqs, int heads,
      int headDim, float[] slopes) {
    boolean small = smallHeads(headDim);
    int nnz = cuSeqlens[numSeqs];
    if (nnz == 0) {
      return;
    }
    Staging s = new Staging();
    long dCu = s.put(Arrays.copyOf(cuSeqlens, numSeqs + 1));
    long dSlopes = s.put(slopes, 0, heads);
    if (small) {
      launch("attention_small_forward_d" + headDim, (nnz + 127) / 128, heads, 1, 128, 0, ptrArg(bf16(ctx)),
          ptrArg(f32(probs)), ptrArg(bf16(qkv)), ptrArg(dCu), ptrArg(dSlopes), heads, nnz, numSeqs);
      return;
    }
    launch("attention_forward", (maxSeqLen(cuSeqlens, numSeqs) + 63) / 64, numSeqs, heads, 128, 0,
        ptrArg(bf16(ctx)), ptrArg(f32(probs)), ptrArg(bf16(qkv)), ptrArg(dCu), ptrArg(dSlopes), heads, nnz);
  }

  @Override
  public void attentionBackward(View dqkv, View dctx, View probs, View qkv, int[] cuSeqlens, long[] probsOffsets,
      int numSeqs, int heads, int headDim) {
    throw new UnsupportedOperationException("CudaBackend keeps no P: call attentionBackward with ctx");
  }

  @Override
  public void attentionBackward(View dqkv, View dctx, View ctx, View probs, View qkv, int[] cuSeqlens,
      long[] probsOffsets, int numSeqs, int heads, int headDim) {
    boolean small = smallHeads(headDim);
    int nnz = cuSeqlens[numSeqs];
    if (nnz == 0) {
      return;
    }
    // MosaicBERT's slopes are a function of heads alone (AlibiSlopes.of), so they are recomputed here.
    float[] slopes = org.mosaicbert.model.AlibiSlopes.of(heads);
    Staging s = new Staging();
    long dCu = s.put(Arrays.copyOf(cuSeqlens, numSeqs + 1));
    long dSlopes = s.put(slopes, 0, heads);
    long dsum = s.take(4L * heads * nnz);
    if (small) {
      int blocks = (nnz + 127) / 128;
      launch("attention_small_backward_dq_d" + headDim, blocks, heads, 1, 128, 0, ptrArg(bf16(dqkv)), ptrArg(dsum),
          ptrArg(bf16(dctx)), ptrArg(bf16(ctx)), ptrArg(bf16(qkv)), ptrArg(f32(probs)), ptrArg(dCu), ptrArg(dSlopes),
          heads, nnz, numSeqs);
      launch("attention_small_backward_dkdv_d" + headDim, blocks, heads, 1, 128, 0, ptrArg(bf16(dqkv)),
          ptrArg(bf16(dctx)), ptrArg(bf16(qkv)), ptrArg(f32(probs)), ptrArg(dsum), ptrArg(dCu), ptrArg(dSlopes), heads,
          nnz, numSeqs);
      return;
    }
    launch("attention_backward_dot", (int) ((nnz * (long) heads + 31) / 32), 1, 1, 256, 0, ptrArg(dsum),
        ptrArg(bf16(dctx)), ptrArg(bf16(ctx)), heads, nnz);
    int tiles = (maxSeqLen(cuSeqlens, numSeqs) + 63) / 64;
    launch("attention_backward_dkdv", tiles, numSeqs, heads, 128, 0, ptrArg(bf16(dqkv)), ptrArg(bf16(dctx)),
        ptrArg(bf16(qkv)), ptrArg(f32(probs)), ptrArg(dsum), ptrArg(dCu), ptrArg(dSlopes), heads, nnz);
    launch("attention_backward_dq", tiles, numSeqs, heads, 128, 0, ptrArg(bf16(dqkv)), ptrArg(bf16(dctx)),
        ptrArg(bf16(qkv)), ptrArg(f32(probs)), ptrArg(dsum), ptrArg(dCu), ptrArg(dSlopes), heads, nnz);
  }

  @Override
  public void gatherRows(View out, View inp, int[] rows, int width) {
    if (rows.length == 0) {
      return;
    }
    long dRows = new Staging().put(rows);
    launch("gather_rows", Math.max(1, (width / 8 + 255) / 256), Math.min(rows.length, 65535), 1, 256, 0,
        ptrArg(bf16(out)), ptrArg(bf16(inp)), ptrArg(dRows), rows.length, width);
  }

  @Override
  public void scatterAddRows(View out, View inp, int[] rows, int width) {
    if (rows.length == 0) {
      return;
    }
    if (Arrays.stream(rows).distinct().count() != rows.length) {
      throw new IllegalArgumentException("CudaBackend.scatterAddRows needs distinct rows");
    }
    long dRows = new Staging().put(rows);
    launch("scatter_add_rows", Math.max(1, (width / 8 + 255) / 256), Math.min(rows.length, 65535), 1, 256, 0,
        ptrArg(bf16(out)), ptrArg(bf16(inp)), ptrArg(dRows), rows.length, width);
  }

  /**
   * The logsumexp of each row also goes to a region of the arena kept for this probs view (carved on first use): the
   * backward pass recomputes the softmax from it and the logits, which must stay untouched until then (MosaicBert's
   * do), so probs may not alias logits here.
   */
  @Override
  public double crossEntropy(View probs, View logits, int[] labels, int rows, int classes, long[] correct) {
    if (rows == 0) {
      return 0;
    }
    if (bf16(probs) == bf16(logits)) {
      throw new IllegalArgumentException("CudaBackend.crossEntropy keeps the logits for the backward pass: probs "
          + "must not alias logits");
    }
    LossRegion region = lossRegions.computeIfAbsent(probs, v -> {
      long capacity = (buf(v).floats - v.offset()) / classes;
      return new LossRegion(carve(4 * capacity), carve(4 * capacity), carve(4 * capacity), capacity);
    });
    if (region.capacity() < rows) {
      throw new IllegalArgumentException("CudaBackend.crossEntropy: " + rows + " rows of " + classes + " classes do "
          + "not fit the probs view (" + region.capacity() + " rows)");
    }
    crossEntropyLogits.put(probs, logits);
    long dLabels = new Staging().put(Arrays.copyOf(labels, rows));
    launch("cross_entropy_forward", rows, 1, 1, 256, 0, ptrArg(region.losses()), ptrArg(region.hits()),
        ptrArg(region.lse()), ptrArg(0), ptrArg(bf16(logits)), ptrArg(dLabels), rows, classes, 1f);
    launch("softmax_rows", rows, 1, 1, 256, 0, ptrArg(bf16(probs)), ptrArg(bf16(logits)), ptrArg(region.lse()), rows,
        classes);
    float[] losses = new float[rows];
    copyToHost(losses, 0, region.losses(), rows);
    int[] hits = new int[rows];
    try (IntPointer p = new IntPointer(rows)) {
      check(cudart.cudaMemcpy(p, ptr(region.hits()), 4L * rows, cudart.cudaMemcpyDeviceToHost), "correct");
      p.get(hits);
    }
    double sum = 0;
    for (int r = 0; r < rows; r++) {
      sum += losses[r];
      correct[0] += hits[r];
    }
    return sum;
  }

  @Override
  public void crossEntropyBackward(View dlogits, View probs, int[] labels, int rows, int classes, float scale) {
    if (rows == 0) {
      return;
    }
    LossRegion region = lossRegions.get(probs);
    View logits = crossEntropyLogits.get(probs);
    if (region == null || logits == null) {
      throw new IllegalStateException("CudaBackend.crossEntropyBackward before crossEntropy on the same probs view");
    }
    long dLabels = new Staging().put(Arrays.copyOf(labels, rows));
    launch("cross_entropy_backward", rows, 1, 1, 256, 0, ptrArg(bf16(dlogits)), ptrArg(bf16(logits)),
        ptrArg(region.lse()), ptrArg(dLabels), rows, classes, scale);
  }

  @Override
  public void adamw(View params, View grads, View m, View v, long n, float lr, float beta1, float beta2, float eps,
      float decay, int step) {
    float stepSize = (float) (lr / (1 - Math.pow(beta1, step)));
    float sqrtBias2 = (float) Math.sqrt(1 - Math.pow(beta2, step));
    launch("adamw_update", grid(n), 1, 1, 256, 0, ptrArg(f32(params)),
        ptrArg(buf(params).kind == Kind.PARAMS ? bf16(params) : 0), ptrArg(f32(grads)), ptrArg(f32(m)),
        ptrArg(f32(v)), n, beta1, beta2, eps, decay, stepSize, sqrtBias2);
  }

  /** Waits for every launched kernel and reports an asynchronous error. */
  public void synchronize() {
    check(cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (CUmod_st module : modules) {
      cudart.cuModuleUnload(module);
    }
    cublas.cublasLtDestroy(ltHandle);
    cublas.cublasDestroy_v2(cublasHandle);
    cudart.cudaFree(arena);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Launching
  // ------------------------------------------------------------------------------------------------------------

  /** A device-pointer kernel argument (distinct from a long long one). */
  private record DevicePtr(long address) {}

  private static DevicePtr ptrArg(long address) {
    return new DevicePtr(address);
  }

  /** Grid-stride grid for n work items of 256 threads, capped at 65535 blocks. */
  private static int grid(long n) {
    return (int) Math.max(1, Math.min((n + 255) / 256, 65535));
  }

  /**
   * cuLaunchKernel with arguments boxed by their C type: DevicePtr → pointer, Integer → int, Long → long long (and
   * unsigned long long), Float → float.
   */
  private void launch(String name, int gx, int gy, int gz, int block, int sharedBytes, Object... args) {
    CUfunc_st function = functions.get(name);
    if (function == null) {
      throw new IllegalStateException("no kernel " + name);
    }
    List<Pointer> values = new ArrayList<>();
    try (PointerPointer<Pointer> params = new PointerPointer<>(args.length)) {
      for (int i = 0; i < args.length; i++) {
        Object arg = args[i];
        Pointer value;
        if (arg instanceof DevicePtr p) {
          value = new LongPointer(new long[] {p.address()});
        } else if (arg instanceof Integer x) {
          value = new IntPointer(new int[] {x});
        } else if (arg instanceof Long x) {
          value = new LongPointer(new long[] {x});
        } else if (arg instanceof Float x) {
          value = new FloatPointer(x);
        } else {
          throw new IllegalArgumentException("kernel argument of type " + arg.getClass());
        }
        values.add(value);
        params.put(i, value);
      }
      check(cudart.cuLaunchKernel(function, gx, gy, gz, block, 1, 1, sharedBytes, (CUstream_st) null, params,
          (PointerPointer<?>) null), "cuLaunchKernel(" + name + ")");
      if (Boolean.getBoolean("mosaicbert.cuda.syncEachLaunch")) {
        check(cudart.cudaDeviceSynchronize(), "after " + name);
      }
    } finally {
      values.forEach(Pointer::close);
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Compiling: NVRTC to CUBIN for this device's architecture, cached by source hash and architecture.
  // ------------------------------------------------------------------------------------------------------------

  static String resource(String file) {
    try (InputStream in = CudaBackend.class.getResourceAsStream(file)) {
      if (in == null) {
        throw new IllegalStateException("missing kernel resource " + file);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

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
    String code = resource(source + ".cu");
    String header = resource("common.cuh");
    String key;
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(code.getBytes(StandardCharsets.UTF_8));
      sha.update(header.getBytes(StandardCharsets.UTF_8));
      sha.update(String.join(" ", options(arch)).getBytes(StandardCharsets.UTF_8));
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
    for (String entry : entryPoints(code)) {
      CUfunc_st function = new CUfunc_st();
      check(cudart.cuModuleGetFunction(function, module, entry), "cuModuleGetFunction(" + entry + ")");
      functions.put(entry, function);
    }
  }

  /** The names of the extern "C" __global__ functions of a source file. */
  static List<String> entryPoints(String code) {
    List<String> names = new ArrayList<>();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "extern \"C\" __global__ void(?:\\s+__launch_bounds__\\([^)]*\\))?\\s+(\\w+)\\s*\\(").matcher(code);
    while (m.find()) {
      names.add(m.group(1));
    }
    return names;
  }

  private byte[] compile(String source, String code, String header) {
    _nvrtcProgram program = new _nvrtcProgram();
    try (BytePointer src = new BytePointer(code); BytePointer name = new BytePointer(source + ".cu");
        PointerPointer<BytePointer> headers = new PointerPointer<>(new BytePointer(header));
        PointerPointer<BytePointer> includeNames = new PointerPointer<>(new BytePointer("common.cuh"))) {
      checkNvrtc(nvrtc.nvrtcCreateProgram(program, src, name, 1, headers, includeNames), "nvrtcCreateProgram");
      String[] opts = options(arch);
      int err;
      try (PointerPointer<BytePointer> options = new PointerPointer<>(opts)) {
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

  /** The device ordinal this backend runs on. */
  public int device() {
    return device;
  }
}
