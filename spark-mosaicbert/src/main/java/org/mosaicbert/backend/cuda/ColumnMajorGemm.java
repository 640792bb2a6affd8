package org.mosaicbert.backend.cuda;

/**
 * One GEMM as cuBLAS takes it, column-major: C[m, n] = op(A)[m, k] · op(B)[k, n], with op(X) = Xᵀ when transX, and
 * leading dimensions lda, ldb, ldc. The engine's tensors are row-major, and a row-major [r, c] matrix is the same
 * memory as a column-major [c, r] one (its transpose); the three GEMMs of a linear layer y = x·Wᵀ (W [out, in]) are
 * written here once, for CublasGemms' cuBLAS calls and for the test that checks them against the row-major math.
 */
record ColumnMajorGemm(boolean transA, boolean transB, int m, int n, int k, int lda, int ldb, int ldc) {

  /** y[rows, out] = x[rows, in] · W[out, in]ᵀ, as yᵀ[out, rows] = op(W)[out, in] · xᵀ[in, rows]: A = W, B = x. */
  static ColumnMajorGemm linear(int rows, int in, int outDim) {
    return new ColumnMajorGemm(true, false, outDim, rows, in, in, in, outDim);
  }

  /** dW[out, in] += dyᵀ·x, as dWᵀ[in, out] = xᵀ[in, rows] · op(dy)[rows, out]: A = x, B = dy, C = dW. */
  static ColumnMajorGemm weightGradient(int rows, int in, int outDim) {
    return new ColumnMajorGemm(false, true, in, outDim, rows, in, outDim, in);
  }

  /** dx[rows, in] = dy·W, as dxᵀ[in, rows] = Wᵀ[in, out] · dyᵀ[out, rows]: A = W, B = dy, C = dx. */
  static ColumnMajorGemm inputGradient(int rows, int in, int outDim) {
    return new ColumnMajorGemm(false, false, in, rows, outDim, in, outDim, in);
  }

  /** A as stored (before op), rows x columns, for cuBLASLt's matrix layout. */
  int aRows() {
    return transA ? k : m;
  }

  int aColumns() {
    return transA ? m : k;
  }

  int bRows() {
    return transB ? n : k;
  }

  int bColumns() {
    return transB ? k : n;
  }
}
