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
import static org.mosaicbert.backend.cuda.CudaDevice.check;

import java.util.HashMap;
import java.util.Map;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * The three GEMMs of a linear layer on {@link CudaDevice}, bf16 operands with float32 accumulation on the legacy
 * default stream: the forward pass through cuBLASLt (its bias epilogue, and an algorithm chosen once per shape), the
 * gradients through cublasGemmEx. The row-major math as column-major cuBLAS calls is {@link ColumnMajorGemm}'s.
 */
final class CublasGemms implements AutoCloseable {
  private static final long WORKSPACE_BYTES = 32L << 20;

  private final Pointer workspace = new Pointer();
  private final cublasContext cublasHandle = new cublasContext();
  private final cublasLtContext ltHandle = new cublasLtContext();
  private final Map<GemmKey, cublasLtMatmulHeuristicResult_t> algorithms = new HashMap<>();

  /** The workspace and both handles, on the device current on this thread; what was made is freed on a failure. */
  CublasGemms() {
    try {
      check(cudart.cudaMalloc(workspace, WORKSPACE_BYTES), "cudaMalloc(GEMM workspace)");
      checkCublas(cublas.cublasCreate_v2(cublasHandle), "cublasCreate");
      checkCublas(cublas.cublasLtCreate(ltHandle), "cublasLtCreate");
    } catch (Throwable e) { // an UnsatisfiedLinkError (a missing library) is an Error, and must free the GPU too
      close();
      throw e;
    }
  }

  /** See {@link Device#linear}. */
  void linear(long out, long inp, long weight, long bias, int rows, int in, int outDim) {
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
          WORKSPACE_BYTES, (CUstream_st) null), "cublasLtMatmul(linear " + rows + "x" + in + "->" + outDim + ")");
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
    cublasLtMatmulHeuristicResult_t known = algorithms.get(key);
    if (known != null) {
      return known;
    }
    PointerPointer<Pointer> pp = new PointerPointer<>(1);
    checkCublas(cublas.cublasLtMatmulPreferenceCreate(pp), "matmul preference");
    cublasLtMatmulPreferenceOpaque_t preference = new cublasLtMatmulPreferenceOpaque_t(pp.get(0));
    try (LongPointer workspaceBytes = new LongPointer(new long[] {WORKSPACE_BYTES});
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
      algorithms.put(key, result);
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

  /** See {@link Device#linearWeightGradient}. */
  void linearWeightGradient(long dweight, long dout, long inp, int rows, int in, int outDim) {
    gemmEx(ColumnMajorGemm.weightGradient(rows, in, outDim), inp, dout, dweight, cudart.CUDA_R_32F, true,
        "cublasGemmEx(dweight)");
  }

  /** See {@link Device#linearInputGradient}. */
  void linearInputGradient(long dinp, long dout, long weight, int rows, int in, int outDim, boolean accumulate) {
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

  private static void checkCublas(int err, String what) {
    if (err != 0) {
      throw new IllegalStateException("cuBLAS error " + err + " in " + what);
    }
  }

  /** Frees the chosen algorithms, the handles and the workspace: after a synchronisation, on the device's thread. */
  @Override
  public void close() {
    for (cublasLtMatmulHeuristicResult_t result : algorithms.values()) {
      result.close();
    }
    algorithms.clear();
    if (!ltHandle.isNull()) {
      cublas.cublasLtDestroy(ltHandle);
    }
    if (!cublasHandle.isNull()) {
      cublas.cublasDestroy_v2(cublasHandle);
    }
    if (!workspace.isNull()) {
      cudart.cudaFree(workspace);
    }
  }
}
