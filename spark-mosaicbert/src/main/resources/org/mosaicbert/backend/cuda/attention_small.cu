// attention_small.cu: ALiBi self-attention for head dimensions 16 and 32, forward and backward, over the same
// variable-length layout as attention.cu (whose tensor-core kernels take head dimension 64 only).
//
// Who needs it: configurations with narrow heads, such as the golden vectors' (hidden 64, 4 heads: 16), which the
// GPU suite runs end to end. MosaicBERT's presets all have 64-wide heads and take attention.cu.
//
// The math and layouts are attention.cu's (qkv [nnz, 3, heads, D], ctx [nnz, heads, D] bf16; lse and dsum float
// [heads, nnz], natural-log logsumexp; cu_seqlens int [num_seqs + 1]; slopes float [heads]):
//     P[i, j] = softmax_j( (q_i . k_j) / sqrt(D) - slope[h] * |i - j| ),   ctx_i = sum_j P[i, j] v_j
// Design: one thread per (token row, head), walking the row's whole sequence with an online softmax in float32;
// no [S, S] matrix anywhere, no shared memory, no atomics (the backward pass is one kernel per side, each writing
// only its own row: deterministic). O(S^2 D) loads per head from L1/L2 instead of tensor-core tiles: fine for the
// small models these head sizes belong to.
//
// Entry points (grid (ceil(nnz / 128), heads), block 128), D = 16 or 32:
//   attention_small_forward_dD(ctx, lse, qkv, cu_seqlens, slopes, heads, nnz, num_seqs)
//   attention_small_backward_dq_dD(dqkv, dsum, dctx, ctx, qkv, lse, cu_seqlens, slopes, heads, nnz, num_seqs)
//       writes the Q third of dqkv and dsum = rowsum(dctx * ctx); run it first:
//   attention_small_backward_dkdv_dD(dqkv, dctx, qkv, lse, dsum, cu_seqlens, slopes, heads, nnz, num_seqs)
//       writes the K and V thirds.

#include "common.cuh"

#define SMALL_THREADS 128

/** The sequence that holds token row r: the largest b with cu[b] <= r (empty sequences are skipped over). */
__device__ __forceinline__ int small_sequence_of(const int* cu, int num_seqs, int r) {
  int lo = 0;
  int hi = num_seqs - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (cu[mid] <= r) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

/** D bf16 (a multiple of 8, 16-byte aligned) to floats, times scale. */
template <int D>
__device__ __forceinline__ void small_load(const bf16* p, float* f, float scale) {
#pragma unroll
  for (int c = 0; c < D / 8; ++c) {
    unpack_bf16x8(*(const uint4*)(p + c * 8), f + c * 8);
  }
#pragma unroll
  for (int d = 0; d < D; ++d) f[d] *= scale;
}

template <int D>
__device__ __forceinline__ void small_store(bf16* p, const float* f) {
#pragma unroll
  for (int c = 0; c < D / 8; ++c) {
    *(uint4*)(p + c * 8) = pack_bf16x8(f + c * 8);
  }
}

template <int D>
__device__ __forceinline__ float small_dot(const float* a, const float* b) {
  float s = 0.0f;
#pragma unroll
  for (int d = 0; d < D; ++d) s += a[d] * b[d];
  return s;
}

__device__ __forceinline__ float small_distance(int i, int j) { return (float)(i > j ? i - j : j - i); }

template <int D>
__device__ __forceinline__ void small_forward(bf16* ctx, float* lse, const bf16* qkv, const int* cu,
                                              const float* slopes, int heads, int nnz, int num_seqs) {
  const int i = blockIdx.x * SMALL_THREADS + threadIdx.x;
  const int h = blockIdx.y;
  if (i >= nnz) return;
  const int H = heads * D;
  const int b = small_sequence_of(cu, num_seqs, i);
  const float slope = slopes[h];
  float q[D], acc[D], k[D];
  small_load<D>(qkv + (long long)i * 3 * H + h * D, q, 1.0f / sqrtf((float)D));
#pragma unroll
  for (int d = 0; d < D; ++d) acc[d] = 0.0f;
  float m = -F32_INF;
  float l = 0.0f;
  for (int j = cu[b]; j < cu[b + 1]; ++j) {
    const bf16* kj = qkv + (long long)j * 3 * H + H + h * D;
    small_load<D>(kj, k, 1.0f);
    const float s = small_dot<D>(q, k) - slope * small_distance(i, j);
    const float m_new = fmaxf(m, s);
    const float correction = expf(m - m_new);  // 0 for the first key: expf(-inf)
    const float p = expf(s - m_new);
    l = l * correction + p;
    small_load<D>(kj + H, k, 1.0f);  // v_j, in k's registers
#pragma unroll
    for (int d = 0; d < D; ++d) acc[d] = acc[d] * correction + p * k[d];
    m = m_new;
  }
  const float inv = 1.0f / l;
#pragma unroll
  for (int d = 0; d < D; ++d) acc[d] *= inv;
  small_store<D>(ctx + (long long)i * H + h * D, acc);
  lse[(long long)h * nnz + i] = m + logf(l);
}

template <int D>
__device__ __forceinline__ void small_backward_dq(bf16* dqkv, float* dsum, const bf16* dctx, const bf16* ctx,
                                                  const bf16* qkv, const float* lse, const int* cu,
                                                  const float* slopes, int heads, int nnz, int num_seqs) {
  const int i = blockIdx.x * SMALL_THREADS + threadIdx.x;
  const int h = blockIdx.y;
  if (i >= nnz) return;
  const int H = heads * D;
  const int b = small_sequence_of(cu, num_seqs, i);
  const float slope = slopes[h];
  const float scale = 1.0f / sqrtf((float)D);
  float q[D], dout[D], kv[D], dq[D];
  small_load<D>(dctx + (long long)i * H + h * D, dout, 1.0f);
  small_load<D>(ctx + (long long)i * H + h * D, kv, 1.0f);
  const float di = small_dot<D>(dout, kv);
  dsum[(long long)h * nnz + i] = di;
  small_load<D>(qkv + (long long)i * 3 * H + h * D, q, scale);
  const float row_lse = lse[(long long)h * nnz + i];
#pragma unroll
  for (int d = 0; d < D; ++d) dq[d] = 0.0f;
  for (int j = cu[b]; j < cu[b + 1]; ++j) {
    const bf16* kj = qkv + (long long)j * 3 * H + H + h * D;
    small_load<D>(kj + H, kv, 1.0f);  // v_j
    const float dp = small_dot<D>(dout, kv);
    small_load<D>(kj, kv, 1.0f);  // k_j
    const float p = expf(small_dot<D>(q, kv) - slope * small_distance(i, j) - row_lse);
    const float ds = p * (dp - di);
#pragma unroll
    for (int d = 0; d < D; ++d) dq[d] += ds * kv[d];
  }
#pragma unroll
  for (int d = 0; d < D; ++d) dq[d] *= scale;
  small_store<D>(dqkv + (long long)i * 3 * H + h * D, dq);
}

template <int D>
__device__ __forceinline__ void small_backward_dkdv(bf16* dqkv, const bf16* dctx, const bf16* qkv, const float* lse,
                                                    const float* dsum, const int* cu, const float* slopes, int heads,
                                                    int nnz, int num_seqs) {
  const int j = blockIdx.x * SMALL_THREADS + threadIdx.x;
  const int h = blockIdx.y;
  if (j >= nnz) return;
  const int H = heads * D;
  const int b = small_sequence_of(cu, num_seqs, j);
  const float slope = slopes[h];
  const float scale = 1.0f / sqrtf((float)D);
  float k[D], v[D], q[D], dout[D], dk[D], dv[D];
  small_load<D>(qkv + (long long)j * 3 * H + H + h * D, k, 1.0f);
  small_load<D>(qkv + (long long)j * 3 * H + 2 * H + h * D, v, 1.0f);
#pragma unroll
  for (int d = 0; d < D; ++d) {
    dk[d] = 0.0f;
    dv[d] = 0.0f;
  }
  for (int i = cu[b]; i < cu[b + 1]; ++i) {
    small_load<D>(qkv + (long long)i * 3 * H + h * D, q, scale);
    small_load<D>(dctx + (long long)i * H + h * D, dout, 1.0f);
    const long long stat = (long long)h * nnz + i;
    const float p = expf(small_dot<D>(q, k) - slope * small_distance(i, j) - lse[stat]);
    const float ds = p * (small_dot<D>(dout, v) - dsum[stat]);
#pragma unroll
    for (int d = 0; d < D; ++d) {
      dv[d] += p * dout[d];
      dk[d] += ds * q[d];  // q carries the 1/sqrt(D) of S's derivative
    }
  }
  small_store<D>(dqkv + (long long)j * 3 * H + H + h * D, dk);
  small_store<D>(dqkv + (long long)j * 3 * H + 2 * H + h * D, dv);
}

extern "C" __global__ void __launch_bounds__(SMALL_THREADS)
attention_small_forward_d16(ALIGN16 bf16* ctx, float* lse, ALIGN16 const bf16* qkv, const int* cu,
                            const float* slopes, int heads, int nnz, int num_seqs) {
  small_forward<16>(ctx, lse, qkv, cu, slopes, heads, nnz, num_seqs);
}

extern "C" __global__ void __launch_bounds__(SMALL_THREADS)
attention_small_backward_dq_d16(ALIGN16 bf16* dqkv, float* dsum, ALIGN16 const bf16* dctx,
                                ALIGN16 const bf16* ctx, ALIGN16 const bf16* qkv, const float* lse, const int* cu,
                                const float* slopes, int heads, int nnz, int num_seqs) {
  small_backward_dq<16>(dqkv, dsum, dctx, ctx, qkv, lse, cu, slopes, heads, nnz, num_seqs);
}

extern "C" __global__ void __launch_bounds__(SMALL_THREADS)
attention_small_backward_dkdv_d16(ALIGN16 bf16* dqkv, ALIGN16 const bf16* dctx, ALIGN16 const bf16* qkv,
                                  const float* lse, const float* dsum, const int* cu, const float* slopes, int heads,
                                  int nnz, int num_seqs) {
  small_backward_dkdv<16>(dqkv, dctx, qkv, lse, dsum, cu, slopes, heads, nnz, num_seqs);
}

extern "C" __global__ void __launch_bounds__(SMALL_THREADS)
attention_small_forward_d32(ALIGN16 bf16* ctx, float* lse, ALIGN16 const bf16* qkv, const int* cu,
                            const float* slopes, int heads, int nnz, int num_seqs) {
  small_forward<32>(ctx, lse, qkv, cu, slopes, heads, nnz, num_seqs);
}

extern "C" __global__ void __launch_bounds__(SMALL_THREADS)
attention_small_backward_dq_d32(ALIGN16 bf16* dqkv, float* dsum, ALIGN16 const bf16* dctx,
                                ALIGN16 const bf16* ctx, ALIGN16 const bf16* qkv, const float* lse, const int* cu,
                                const float* slopes, int heads, int nnz, int num_seqs) {
  small_backward_dq<32>(dqkv, dsum, dctx, ctx, qkv, lse, cu, slopes, heads, nnz, num_seqs);
}

extern "C" __global__ void __launch_bounds__(SMALL_THREADS)
attention_small_backward_dkdv_d32(ALIGN16 bf16* dqkv, ALIGN16 const bf16* dctx, ALIGN16 const bf16* qkv,
                                  const float* lse, const float* dsum, const int* cu, const float* slopes, int heads,
                                  int nnz, int num_seqs) {
  small_backward_dkdv<32>(dqkv, dctx, qkv, lse, dsum, cu, slopes, heads, nnz, num_seqs);
}
