// attention.cu: ALiBi self-attention over variable-length sequences, FlashAttention-2 style, bf16 in, fp32 math.
//
// Matches CpuBackend.attention / CpuBackend.attentionBackward, except that no probability matrix is kept: the
// forward pass keeps one logsumexp per (head, row) and the backward pass recomputes the probabilities from it.
// For each sequence b (rows cu_seqlens[b] .. cu_seqlens[b+1]-1, i and j positions inside the sequence) and head h:
//     P[i, j] = softmax_j( (q_i . k_j) / sqrt(64) - slope[h] * |i - j| )      (symmetric ALiBi, no causal mask)
//     ctx_i   = sum_j P[i, j] v_j
// Attention never crosses a sequence boundary, and no [S, S] matrix is ever written to global memory.
//
// Layouts (bf16 unless said otherwise; nnz = cu_seqlens[num_seqs]; H = heads * 64):
//   qkv   [nnz, 3, heads, 64]  one row per token: Q | K | V, each head-major (the Wqkv output, 3H wide)
//   ctx   [nnz, heads, 64]     attention output, heads concatenated (H wide)
//   dqkv  like qkv; dctx like ctx
//   lse   float [heads, nnz]   natural-log logsumexp of each score row (written by the forward pass)
//   dsum  float [heads, nnz]   rowsum(dctx * ctx) per head (written by attention_backward_dot)
//   cu_seqlens int [num_seqs + 1], slopes float [heads] (AlibiSlopes.of(heads))
// Head dimension 64 only (every preset: tiny, mini, small, base, large); the host must refuse other sizes.
//
// Entry points and launch configuration (all with 128 threads = 4 warps, static shared memory only, no opt-in):
//   attention_forward(ctx, lse, qkv, cu_seqlens, slopes, heads, nnz)
//       grid (ceil(max_seqlen / 64), num_seqs, heads), block 128; 40 KiB static shared memory.
//       One block = 64 queries of one sequence and head; each warp owns 16 query rows.
//   attention_backward_dot(dsum, dctx, ctx, heads, nnz)
//       grid ceil(nnz * heads / 32), block 256: eight lanes per (row, head).
//   attention_backward_dkdv(dqkv, dctx, qkv, lse, dsum, cu_seqlens, slopes, heads, nnz)
//       grid (ceil(max_seqlen / 64), num_seqs, heads), block 128; 41 KiB static shared memory.
//       One block = 64 keys; loops over the query tiles; writes the K and V thirds of dqkv.
//   attention_backward_dq(dqkv, dctx, qkv, lse, dsum, cu_seqlens, slopes, heads, nnz)
//       same grid and block; 32 KiB static shared memory. One block = 64 queries; loops over the key tiles;
//       writes the Q third of dqkv.
//   Backward order: attention_backward_dot, then dkdv and dq (either order, independent).
//   Blocks whose tile starts past their sequence's end return at once, so max_seqlen may be any upper bound.
//
// Design (why it is shaped like this):
// - Tensor cores through inline PTX: mma.sync.m16n8k16 (bf16 in, fp32 accumulate), operands loaded from shared
//   memory with ldmatrix (.trans where the operand is needed column-major). The C fragment of one mma has the
//   layout of half an A fragment of the next, so P = softmax(S) goes from accumulators to the P.V mma without
//   touching shared memory (FlashAttention-2's trick).
// - Tiles of 64 x 64 bf16 (8 KiB) in shared memory, 16-byte chunks XOR-swizzled by row (chunk c of row r lives at
//   c ^ (r & 7)), so that ldmatrix's eight row addresses hit eight different bank groups.
// - Global-to-shared copies with cp.async, double-buffered: the next tile streams in while this one is used.
//   Rows past the end of the sequence are zero-filled by cp.async (src-size 0), never read from the next sequence.
// - Online softmax in the log2 domain: scores are scaled by log2(e) so that exp2f (one MUFU instruction) serves.
// - The backward pass is deterministic: instead of FlashAttention-2's atomicAdd of dQ across key tiles, dQ has
//   its own kernel that walks the key tiles (recomputing S and dP), and dK/dV another that walks the query tiles.
//   That costs 7 tile products per (query tile, key tile) instead of 5, and buys bit-identical gradients run to
//   run, no float32 dQ accumulator and no conversion kernel. At MosaicBERT's sequence length 128 attention is a
//   small part of the step, so the trade is cheap.
// - 4 warps per block and 64-row tiles (not FlashAttention-2's 128) because MosaicBERT's sequences are short: at
//   length 128 that is still 2 blocks per (sequence, head). The forward and dQ kernels use about 150 registers a
//   thread; dK/dV holds two 16x64 accumulators, P and dP (128 floats) and takes all 255 (no spills; capping it
//   at 168 for 3 blocks per SM spills).
// Not done here: head dimensions other than 64 (attention_small.cu takes 16 and 32), Hopper's wgmma/TMA (sm_90 runs
// the same mma.sync code as sm_80), attention dropout (MosaicBERT's attention_probs_dropout_prob is 0.0).

#include "common.cuh"

#define ATT_HEAD_DIM 64
#define ATT_TILE 64            // queries per block, keys per tile (and the reverse in the dK/dV kernel)
#define ATT_THREADS 128        // 4 warps x 16 rows
#define ATT_TILE_BYTES (ATT_TILE * ATT_HEAD_DIM * 2)
#define ATT_LOG2E 1.4426950408889634f
#define ATT_LN2 0.6931471805599453f
#define ATT_SCALE 0.125f       // 1 / sqrt(64)

// ---------------------------------------------------------------------------------------------------------------
// PTX wrappers
// ---------------------------------------------------------------------------------------------------------------

// The seven PTX wrappers below are the file's only inline assembly. The tests run this file on the CPU (a block's
// threads as fibers) with host versions of them (test resource host/common.cuh, which defines
// MOSAICBERT_HOST_EMULATION); everything else in the file is the same code in both worlds.
#ifndef MOSAICBERT_HOST_EMULATION

/** The 32-bit shared-memory address of a generic pointer into shared memory (what ldmatrix and cp.async take). */
__device__ __forceinline__ unsigned att_smem_addr(const void* p) {
  unsigned addr;
  asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(addr) : "l"(p));
  return addr;
}

/** 16 bytes global -> shared, asynchronously; src_bytes 0 writes zeros and reads nothing. */
__device__ __forceinline__ void att_cp_async16(unsigned dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}

__device__ __forceinline__ void att_cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }

__device__ __forceinline__ void att_cp_async_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }

/** Four 8x8 bf16 matrices from shared memory; lane l gives the address of row (l & 7) of matrix (l >> 3). */
__device__ __forceinline__ void att_ldmatrix_x4(unsigned r[4], unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

/** The same, each matrix transposed on the way (for operands needed column-major). */
__device__ __forceinline__ void att_ldmatrix_x4_trans(unsigned r[4], unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

/**
 * c[16x8] += a[16x16] * b[16x8], bf16 in, fp32 accumulate. With g = lane / 4 and t = lane % 4:
 * a[0] = A(g, 2t..2t+1), a[1] = A(g+8, 2t..), a[2] = A(g, 2t+8..), a[3] = A(g+8, 2t+8..);
 * b0 = B(2t..2t+1, g), b1 = B(2t+8.., g); c[0..1] = C(g, 2t..2t+1), c[2..3] = C(g+8, 2t..2t+1).
 */
__device__ __forceinline__ void att_mma(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

#endif  // MOSAICBERT_HOST_EMULATION

// ---------------------------------------------------------------------------------------------------------------
// Shared-memory tiles: 64 rows x 64 bf16 = 8 chunks of 16 bytes per row, chunk c of row r at c ^ (r & 7)
// ---------------------------------------------------------------------------------------------------------------

__device__ __forceinline__ unsigned att_tile_offset(int row, int chunk) {
  return (unsigned)(row * 128 + ((chunk ^ (row & 7)) << 4));
}

/**
 * Starts copying rows [0, 64) of a row-major bf16 matrix (row stride ld elements, first row at src) into the tile
 * at tile_addr; rows at or past rows_valid are zero-filled. Every thread of the block takes part.
 */
__device__ __forceinline__ void att_load_tile_async(unsigned tile_addr, const bf16* src, int ld, int rows_valid) {
#pragma unroll
  for (int it = 0; it < ATT_TILE * 8 / ATT_THREADS; ++it) {
    int i = threadIdx.x + it * ATT_THREADS;
    int row = i >> 3;
    int chunk = i & 7;
    bool valid = row < rows_valid;
    // A row past the end gets src_bytes 0: nothing is read, but the address must still be a valid one.
    const bf16* p = valid ? src + (long long)row * ld + chunk * 8 : src;
    att_cp_async16(tile_addr + att_tile_offset(row, chunk), p, valid ? 16 : 0);
  }
}

/**
 * A operand fragments of a warp's 16 rows (starting at row0 of the tile) for all four 16-wide k steps over the
 * head dimension: frag[kk] covers columns 16kk .. 16kk+15.
 */
__device__ __forceinline__ void att_load_a_frags(unsigned frag[4][4], unsigned tile_addr, int row0, int lane) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    // Matrices: rows 0-7 / 8-15 of the 16, chunk 2kk / 2kk+1; lane l addresses row (l & 15), chunk 2kk + (l >> 4).
    att_ldmatrix_x4(frag[kk], tile_addr + att_tile_offset(row0 + (lane & 15), 2 * kk + (lane >> 4)));
  }
}

/**
 * B operand for X . Tᵀ where the tile T is row-major [n rows][64] (K in S = Q Kᵀ): the fragments of the 8 tile
 * rows n0 .. n0+7 for all four k steps: b[2kk], b[2kk+1] are (b0, b1) of k step kk.
 */
__device__ __forceinline__ void att_load_b_rows(unsigned b[8], unsigned tile_addr, int n0, int lane) {
  // Matrices of one x4: the 8 rows, chunks 0..3 (then 4..7); lane l addresses row (l & 7), chunk (l >> 3).
  att_ldmatrix_x4(b, tile_addr + att_tile_offset(n0 + (lane & 7), lane >> 3));
  att_ldmatrix_x4(b + 4, tile_addr + att_tile_offset(n0 + (lane & 7), 4 + (lane >> 3)));
}

/**
 * B operand for P . T where the tile T is row-major [k rows][64] (V in O = P V): for k step kk (tile rows 16kk ..
 * 16kk+15) and output columns 16p .. 16p+15: b[0], b[1] = (b0, b1) of columns 16p..16p+7; b[2], b[3] = of
 * 16p+8..16p+15.
 */
__device__ __forceinline__ void att_load_b_cols(unsigned b[4], unsigned tile_addr, int kk, int p, int lane) {
  // Matrices: rows 0-7 / 8-15 of the k step, chunk 2p / 2p+1, each transposed; the addressing is att_load_a_frags'.
  att_ldmatrix_x4_trans(b, tile_addr + att_tile_offset(16 * kk + (lane & 15), 2 * p + (lane >> 4)));
}

/** acc[8][4] (16 rows x 64 columns) to the A fragments of a following product over those 64 columns. */
__device__ __forceinline__ void att_acc_to_a(unsigned a[4], const float acc[8][4], int kk) {
  a[0] = pack_bf16x2(acc[2 * kk][0], acc[2 * kk][1]);
  a[1] = pack_bf16x2(acc[2 * kk][2], acc[2 * kk][3]);
  a[2] = pack_bf16x2(acc[2 * kk + 1][0], acc[2 * kk + 1][1]);
  a[3] = pack_bf16x2(acc[2 * kk + 1][2], acc[2 * kk + 1][3]);
}

/** acc[16 x 64] += A (16 x 64, as fragments) . Tᵀ, T the row-major [64][64] tile at tile_addr. */
__device__ __forceinline__ void att_mma_abt(float acc[8][4], const unsigned a[4][4], unsigned tile_addr, int lane) {
#pragma unroll
  for (int nt = 0; nt < 8; ++nt) {
    unsigned b[8];
    att_load_b_rows(b, tile_addr, nt * 8, lane);
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) att_mma(acc[nt], a[kk], b[2 * kk], b[2 * kk + 1]);
  }
}

/**
 * acc[16 x 64] += A . Tᵀ with A the 16 rows at a_row0 of the tile at a_addr, read from shared memory one k step at
 * a time (4 registers live instead of 16: for the kernel whose registers are tightest).
 */
__device__ __forceinline__ void att_mma_abt_smem(float acc[8][4], unsigned a_addr, int a_row0, unsigned tile_addr,
                                                 int lane) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    unsigned a[4];
    att_ldmatrix_x4(a, a_addr + att_tile_offset(a_row0 + (lane & 15), 2 * kk + (lane >> 4)));
#pragma unroll
    for (int nt = 0; nt < 8; nt += 2) {
      // Matrices: tile rows 8nt.. / 8(nt+1).. (lane bit 4), chunk 2kk / 2kk+1 (lane bit 3).
      unsigned b[4];
      att_ldmatrix_x4(b, tile_addr + att_tile_offset(nt * 8 + ((lane >> 4) << 3) + (lane & 7), 2 * kk + ((lane >> 3) & 1)));
      att_mma(acc[nt], a, b[0], b[1]);
      att_mma(acc[nt + 1], a, b[2], b[3]);
    }
  }
}

/** acc[16 x 64] += P (16 x 64, float accumulators rounded to bf16) . T, T the row-major [64][64] tile. */
__device__ __forceinline__ void att_mma_pt(float acc[8][4], const float p[8][4], unsigned tile_addr, int lane) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    unsigned a[4];
    att_acc_to_a(a, p, kk);
#pragma unroll
    for (int pp = 0; pp < 4; ++pp) {
      unsigned b[4];
      att_load_b_cols(b, tile_addr, kk, pp, lane);
      att_mma(acc[2 * pp], a, b[0], b[1]);
      att_mma(acc[2 * pp + 1], a, b[2], b[3]);
    }
  }
}

__device__ __forceinline__ void att_zero(float acc[8][4]) {
#pragma unroll
  for (int i = 0; i < 8; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
}

/** The ALiBi distance |i - j| as a float. */
__device__ __forceinline__ float att_distance(int i, int j) { return (float)(i > j ? i - j : j - i); }

/**
 * Writes a warp's 16 rows x 64 columns (acc, times scale) as bf16 into a row-major matrix with row stride ld
 * elements whose row 0 is sequence position 0; rows at or past len are skipped.
 */
__device__ __forceinline__ void att_store_rows(bf16* dst, int ld, const float acc[8][4], float scale_a, float scale_b,
                                               int row_a, int len, int lane) {
  int t = lane & 3;
  int row_b = row_a + 8;
#pragma unroll
  for (int nd = 0; nd < 8; ++nd) {
    int col = nd * 8 + 2 * t;
    if (row_a < len) {
      *(unsigned*)(dst + (long long)row_a * ld + col) = pack_bf16x2(acc[nd][0] * scale_a, acc[nd][1] * scale_a);
    }
    if (row_b < len) {
      *(unsigned*)(dst + (long long)row_b * ld + col) = pack_bf16x2(acc[nd][2] * scale_b, acc[nd][3] * scale_b);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------------------------

extern "C" __global__ void __launch_bounds__(ATT_THREADS)
attention_forward(ALIGN16 bf16* ctx, float* lse, ALIGN16 const bf16* qkv, const int* cu_seqlens, const float* slopes,
                  int heads, int nnz) {
  const int seq = blockIdx.y;
  const int h = blockIdx.z;
  const int start = cu_seqlens[seq];
  const int len = cu_seqlens[seq + 1] - start;
  const int q0 = blockIdx.x * ATT_TILE;
  if (q0 >= len) return;
  const int hidden = heads * ATT_HEAD_DIM;
  const int ld = 3 * hidden;

  // Q, then K and V in two stages each: 5 x 8 KiB.
  alignas(128) __shared__ unsigned char smem[5 * ATT_TILE_BYTES];
  const unsigned s_q = att_smem_addr(smem);
  const unsigned s_k = s_q + ATT_TILE_BYTES;      // stage s at s_k + 2 s ATT_TILE_BYTES
  const unsigned s_v = s_k + ATT_TILE_BYTES;      // stage s at s_v + 2 s ATT_TILE_BYTES

  const bf16* q_src = qkv + (long long)(start + q0) * ld + h * ATT_HEAD_DIM;
  const bf16* k_src = qkv + (long long)start * ld + hidden + h * ATT_HEAD_DIM;
  const bf16* v_src = k_src + hidden;
  att_load_tile_async(s_q, q_src, ld, len - q0);
  att_load_tile_async(s_k, k_src, ld, len);
  att_load_tile_async(s_v, v_src, ld, len);
  att_cp_async_commit();

  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int row_a = q0 + warp * 16 + g;  // this thread's two query rows (positions in the sequence)
  const int row_b = row_a + 8;
  const float scale_log2 = ATT_SCALE * ATT_LOG2E;
  const float slope_log2 = slopes[h] * ATT_LOG2E;

  float m_a = -F32_INF, m_b = -F32_INF;  // running maxima (log2 domain)
  float l_a = 0.0f, l_b = 0.0f;            // running sums of this thread's columns (summed over the quad at the end)
  float o[8][4];
  att_zero(o);
  unsigned qf[4][4];

  const int num_tiles = (len + ATT_TILE - 1) / ATT_TILE;
  for (int j = 0; j < num_tiles; ++j) {
    const int stage = j & 1;
    att_cp_async_wait_all();
    __syncthreads();  // tile j is in; every warp is done with tile j - 1, whose stage the next copy overwrites
    if (j + 1 < num_tiles) {
      const int next = (j + 1) * ATT_TILE;
      att_load_tile_async(s_k + (stage ^ 1) * 2 * ATT_TILE_BYTES, k_src + (long long)next * ld, ld, len - next);
      att_load_tile_async(s_v + (stage ^ 1) * 2 * ATT_TILE_BYTES, v_src + (long long)next * ld, ld, len - next);
      att_cp_async_commit();
    }
    if (j == 0) att_load_a_frags(qf, s_q, warp * 16, lane);

    // S = Q Kᵀ for this warp's 16 queries x 64 keys.
    float s[8][4];
    att_zero(s);
    att_mma_abt(s, qf, s_k + stage * 2 * ATT_TILE_BYTES, lane);

    // Scale, ALiBi bias, mask keys past the end; row maxima.
    const int key0 = j * ATT_TILE;
    float mx_a = m_a, mx_b = m_b;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = key0 + nt * 8 + 2 * t + (e & 1);
        const int row = e < 2 ? row_a : row_b;
        const float v = s[nt][e] * scale_log2 - slope_log2 * att_distance(row, key);
        s[nt][e] = key < len ? v : -F32_INF;
      }
      mx_a = fmaxf(mx_a, fmaxf(s[nt][0], s[nt][1]));
      mx_b = fmaxf(mx_b, fmaxf(s[nt][2], s[nt][3]));
    }
    // The four threads of a quad hold the same two rows.
    mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 1));
    mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 2));
    mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 1));
    mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 2));
    // Key 0 of tile 0 is always a real key, so the maxima are finite from the first tile on: no inf - inf.
    const float corr_a = exp2f(m_a - mx_a);
    const float corr_b = exp2f(m_b - mx_b);
    m_a = mx_a;
    m_b = mx_b;
    l_a *= corr_a;
    l_b *= corr_b;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      s[nt][0] = exp2f(s[nt][0] - m_a);
      s[nt][1] = exp2f(s[nt][1] - m_a);
      s[nt][2] = exp2f(s[nt][2] - m_b);
      s[nt][3] = exp2f(s[nt][3] - m_b);
      l_a += s[nt][0] + s[nt][1];
      l_b += s[nt][2] + s[nt][3];
      o[nt][0] *= corr_a;
      o[nt][1] *= corr_a;
      o[nt][2] *= corr_b;
      o[nt][3] *= corr_b;
    }
    // O += P V (P rounded to bf16 for the tensor cores, as FlashAttention does; l keeps the fp32 sum).
    att_mma_pt(o, s, s_v + stage * 2 * ATT_TILE_BYTES, lane);
  }

  l_a += __shfl_xor_sync(0xffffffffu, l_a, 1);
  l_a += __shfl_xor_sync(0xffffffffu, l_a, 2);
  l_b += __shfl_xor_sync(0xffffffffu, l_b, 1);
  l_b += __shfl_xor_sync(0xffffffffu, l_b, 2);
  att_store_rows(ctx + (long long)start * hidden + h * ATT_HEAD_DIM, hidden, o, 1.0f / l_a, 1.0f / l_b, row_a, len,
                 lane);
  if (t == 0) {
    if (row_a < len) lse[(long long)h * nnz + start + row_a] = (m_a + log2f(l_a)) * ATT_LN2;
    if (row_b < len) lse[(long long)h * nnz + start + row_b] = (m_b + log2f(l_b)) * ATT_LN2;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------------------------------------

/** dsum[h, r] = sum_d dctx[r, h, d] * ctx[r, h, d]: the "D" of FlashAttention-2's backward pass. */
extern "C" __global__ void __launch_bounds__(256, 1)
attention_backward_dot(float* dsum, ALIGN16 const bf16* dctx, ALIGN16 const bf16* ctx, int heads, int nnz) {
  // Eight lanes per (row, head), eight bf16 each; consecutive pairs are consecutive in memory.
  const long long pair = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 3;
  const int part = threadIdx.x & 7;
  const bool valid = pair < (long long)nnz * heads;
  float acc = 0.0f;
  if (valid) {
    const long long off = pair * ATT_HEAD_DIM + part * 8;
    float a[8], b[8];
    unpack_bf16x8(*(const uint4*)(dctx + off), a);
    unpack_bf16x8(*(const uint4*)(ctx + off), b);
#pragma unroll
    for (int i = 0; i < 8; ++i) acc += a[i] * b[i];
  }
  acc += __shfl_xor_sync(0xffffffffu, acc, 1);
  acc += __shfl_xor_sync(0xffffffffu, acc, 2);
  acc += __shfl_xor_sync(0xffffffffu, acc, 4);
  if (valid && part == 0) {
    const int row = (int)(pair / heads);
    const int h = (int)(pair % heads);
    dsum[(long long)h * nnz + row] = acc;
  }
}

/**
 * dK and dV for 64 keys of one sequence and head, over all its query tiles. Per query tile, each warp (16 keys):
 *   Sᵀ = K Qᵀ;  Pᵀ = exp(Sᵀ·scale + bias - lse[query]);  dV += Pᵀ dO;
 *   dPᵀ = V dOᵀ;  dSᵀ = Pᵀ ⊙ (dPᵀ - dsum[query]);  dK += dSᵀ Q        (dK scaled by 1/sqrt(64) at the end)
 * K stays in registers as A fragments, V in shared memory (its A fragments are read one k step at a time: with
 * both in registers the kernel sat at 255 registers); Q and dO tiles (and their lse, dsum) stream through two
 * stages.
 */
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
attention_backward_dkdv(ALIGN16 bf16* dqkv, ALIGN16 const bf16* dctx, ALIGN16 const bf16* qkv, const float* lse,
                        const float* dsum, const int* cu_seqlens, const float* slopes, int heads, int nnz) {
  const int seq = blockIdx.y;
  const int h = blockIdx.z;
  const int start = cu_seqlens[seq];
  const int len = cu_seqlens[seq + 1] - start;
  const int k0 = blockIdx.x * ATT_TILE;
  if (k0 >= len) return;
  const int hidden = heads * ATT_HEAD_DIM;
  const int ld = 3 * hidden;

  // The V tile, then two stages of (Q tile, dO tile); the K tile passes through stage 1 once, on its way to
  // registers. 40 KiB + 1 KiB.
  alignas(128) __shared__ unsigned char smem[5 * ATT_TILE_BYTES];
  __shared__ float s_lse[2][ATT_TILE];   // log2-domain lse of the stage's queries; +inf past the end (P = 0)
  __shared__ float s_dsum[2][ATT_TILE];  // dsum of the stage's queries; 0 past the end
  const unsigned s_v = att_smem_addr(smem);
  const unsigned s_q = s_v + ATT_TILE_BYTES;  // stage s: Q at s_q + 2 s T, dO at s_q + (2 s + 1) T

  const bf16* q_src = qkv + (long long)start * ld + h * ATT_HEAD_DIM;
  const bf16* k_src = qkv + (long long)(start + k0) * ld + hidden + h * ATT_HEAD_DIM;
  const bf16* v_src = k_src + hidden;
  const bf16* do_src = dctx + (long long)start * hidden + h * ATT_HEAD_DIM;
  const float* lse_src = lse + (long long)h * nnz + start;
  const float* dsum_src = dsum + (long long)h * nnz + start;

  att_load_tile_async(s_q + 2 * ATT_TILE_BYTES, k_src, ld, len - k0);
  att_load_tile_async(s_v, v_src, ld, len - k0);
  att_load_tile_async(s_q, q_src, ld, len);
  att_load_tile_async(s_q + ATT_TILE_BYTES, do_src, hidden, len);
  att_cp_async_commit();
  if (threadIdx.x < ATT_TILE) {
    const int q = threadIdx.x;
    s_lse[0][q] = q < len ? lse_src[q] * ATT_LOG2E : F32_INF;
    s_dsum[0][q] = q < len ? dsum_src[q] : 0.0f;
  }

  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int t = lane & 3;
  const int key_a = k0 + warp * 16 + (lane >> 2);  // this thread's two key rows (positions in the sequence)
  const int key_b = key_a + 8;
  const float scale_log2 = ATT_SCALE * ATT_LOG2E;
  const float slope_log2 = slopes[h] * ATT_LOG2E;

  unsigned kf[4][4];
  att_cp_async_wait_all();
  __syncthreads();
  att_load_a_frags(kf, s_q + 2 * ATT_TILE_BYTES, warp * 16, lane);
  __syncthreads();  // stage 1 is free again

  float dk[8][4], dv[8][4];
  att_zero(dk);
  att_zero(dv);

  const int num_tiles = (len + ATT_TILE - 1) / ATT_TILE;
  for (int i = 0; i < num_tiles; ++i) {
    const int stage = i & 1;
    if (i > 0) {
      att_cp_async_wait_all();
      __syncthreads();  // query tile i is in; every warp is done with tile i - 1
    }
    if (i + 1 < num_tiles) {
      const int next = (i + 1) * ATT_TILE;
      const unsigned dst = s_q + (stage ^ 1) * 2 * ATT_TILE_BYTES;
      att_load_tile_async(dst, q_src + (long long)next * ld, ld, len - next);
      att_load_tile_async(dst + ATT_TILE_BYTES, do_src + (long long)next * hidden, hidden, len - next);
      att_cp_async_commit();
      if (threadIdx.x < ATT_TILE) {
        const int q = next + threadIdx.x;
        s_lse[stage ^ 1][threadIdx.x] = q < len ? lse_src[q] * ATT_LOG2E : F32_INF;
        s_dsum[stage ^ 1][threadIdx.x] = q < len ? dsum_src[q] : 0.0f;
      }
    }
    const unsigned tq = s_q + stage * 2 * ATT_TILE_BYTES;
    const unsigned tdo = tq + ATT_TILE_BYTES;
    const int qbase = i * ATT_TILE;

    // Pᵀ = exp2(K Qᵀ · scale·log2e − slope·log2e·|i−j| − lse·log2e); queries past the end have lse = +inf: P = 0.
    float p[8][4];
    att_zero(p);
    att_mma_abt(p, kf, tq, lane);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int qcol = nt * 8 + 2 * t + (e & 1);
        const int key = e < 2 ? key_a : key_b;
        p[nt][e] = exp2f(p[nt][e] * scale_log2 - slope_log2 * att_distance(qbase + qcol, key) - s_lse[stage][qcol]);
      }
    }
    // dV += Pᵀ dO
    att_mma_pt(dv, p, tdo, lane);
    // dPᵀ = V dOᵀ, then dSᵀ = Pᵀ ⊙ (dPᵀ − dsum) in place of Pᵀ
    float dp[8][4];
    att_zero(dp);
    att_mma_abt_smem(dp, s_v, warp * 16, tdo, lane);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int qcol = nt * 8 + 2 * t + (e & 1);
        p[nt][e] = p[nt][e] * (dp[nt][e] - s_dsum[stage][qcol]);
      }
    }
    // dK += dSᵀ Q
    att_mma_pt(dk, p, tq, lane);
  }

  bf16* dk_dst = dqkv + (long long)start * ld + hidden + h * ATT_HEAD_DIM;
  att_store_rows(dk_dst, ld, dk, ATT_SCALE, ATT_SCALE, key_a, len, lane);
  att_store_rows(dk_dst + hidden, ld, dv, 1.0f, 1.0f, key_a, len, lane);
}

/**
 * dQ for 64 queries of one sequence and head, over all its key tiles. Per key tile, each warp (16 queries):
 *   S = Q Kᵀ;  P = exp(S·scale + bias − lse);  dP = dO Vᵀ;  dS = P ⊙ (dP − dsum);  dQ += dS K
 * (dQ scaled by 1/sqrt(64) at the end). Q and dO stay in registers; K and V tiles stream through two stages.
 */
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
attention_backward_dq(ALIGN16 bf16* dqkv, ALIGN16 const bf16* dctx, ALIGN16 const bf16* qkv, const float* lse,
                      const float* dsum, const int* cu_seqlens, const float* slopes, int heads, int nnz) {
  const int seq = blockIdx.y;
  const int h = blockIdx.z;
  const int start = cu_seqlens[seq];
  const int len = cu_seqlens[seq + 1] - start;
  const int q0 = blockIdx.x * ATT_TILE;
  if (q0 >= len) return;
  const int hidden = heads * ATT_HEAD_DIM;
  const int ld = 3 * hidden;

  // Two stages of (K tile, V tile); the Q and dO tiles pass through stage 1 once, on their way to registers.
  alignas(128) __shared__ unsigned char smem[4 * ATT_TILE_BYTES];
  const unsigned s_k = att_smem_addr(smem);  // stage s: K at s_k + 2 s T, V at s_k + (2 s + 1) T

  const bf16* q_src = qkv + (long long)(start + q0) * ld + h * ATT_HEAD_DIM;
  const bf16* k_src = qkv + (long long)start * ld + hidden + h * ATT_HEAD_DIM;
  const bf16* v_src = k_src + hidden;
  const bf16* do_src = dctx + (long long)(start + q0) * hidden + h * ATT_HEAD_DIM;

  att_load_tile_async(s_k + 2 * ATT_TILE_BYTES, q_src, ld, len - q0);
  att_load_tile_async(s_k + 3 * ATT_TILE_BYTES, do_src, hidden, len - q0);
  att_cp_async_commit();
  att_load_tile_async(s_k, k_src, ld, len);
  att_load_tile_async(s_k + ATT_TILE_BYTES, v_src, ld, len);
  att_cp_async_commit();

  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int t = lane & 3;
  const int row_a = q0 + warp * 16 + (lane >> 2);
  const int row_b = row_a + 8;
  const float scale_log2 = ATT_SCALE * ATT_LOG2E;
  const float slope_log2 = slopes[h] * ATT_LOG2E;
  // Rows past the end compute garbage that is never stored; their lse and dsum are read as 0.
  const float lse_a = row_a < len ? lse[(long long)h * nnz + start + row_a] * ATT_LOG2E : 0.0f;
  const float lse_b = row_b < len ? lse[(long long)h * nnz + start + row_b] * ATT_LOG2E : 0.0f;
  const float dsum_a = row_a < len ? dsum[(long long)h * nnz + start + row_a] : 0.0f;
  const float dsum_b = row_b < len ? dsum[(long long)h * nnz + start + row_b] : 0.0f;

  unsigned qf[4][4], dof[4][4];
  att_cp_async_wait_all();
  __syncthreads();
  att_load_a_frags(qf, s_k + 2 * ATT_TILE_BYTES, warp * 16, lane);
  att_load_a_frags(dof, s_k + 3 * ATT_TILE_BYTES, warp * 16, lane);
  __syncthreads();  // stage 1 is free again

  float dq[8][4];
  att_zero(dq);

  const int num_tiles = (len + ATT_TILE - 1) / ATT_TILE;
  for (int j = 0; j < num_tiles; ++j) {
    const int stage = j & 1;
    if (j > 0) {
      att_cp_async_wait_all();
      __syncthreads();
    }
    if (j + 1 < num_tiles) {
      const int next = (j + 1) * ATT_TILE;
      const unsigned dst = s_k + (stage ^ 1) * 2 * ATT_TILE_BYTES;
      att_load_tile_async(dst, k_src + (long long)next * ld, ld, len - next);
      att_load_tile_async(dst + ATT_TILE_BYTES, v_src + (long long)next * ld, ld, len - next);
      att_cp_async_commit();
    }
    const unsigned tk = s_k + stage * 2 * ATT_TILE_BYTES;
    const unsigned tv = tk + ATT_TILE_BYTES;
    const int key0 = j * ATT_TILE;

    float p[8][4];
    att_zero(p);
    att_mma_abt(p, qf, tk, lane);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = key0 + nt * 8 + 2 * t + (e & 1);
        const int row = e < 2 ? row_a : row_b;
        const float v = p[nt][e] * scale_log2 - slope_log2 * att_distance(row, key) - (e < 2 ? lse_a : lse_b);
        p[nt][e] = key < len ? exp2f(v) : 0.0f;
      }
    }
    float dp[8][4];
    att_zero(dp);
    att_mma_abt(dp, dof, tv, lane);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      p[nt][0] *= dp[nt][0] - dsum_a;
      p[nt][1] *= dp[nt][1] - dsum_a;
      p[nt][2] *= dp[nt][2] - dsum_b;
      p[nt][3] *= dp[nt][3] - dsum_b;
    }
    // dQ += dS K
    att_mma_pt(dq, p, tk, lane);
  }

  att_store_rows(dqkv + (long long)start * ld + h * ATT_HEAD_DIM, ld, dq, ATT_SCALE, ATT_SCALE, row_a, len, lane);
}
