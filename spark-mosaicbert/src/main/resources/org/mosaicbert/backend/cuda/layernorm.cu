// layernorm.cu: MosaicBERT's low-precision LayerNorm (bf16 in and out, float32 statistics), fused with the residual
// add and the branch dropout that precede it in a post-LN block, forward and backward.
//
// Matches, in MosaicBert's order, the CpuBackend calls
//     dropout(branch, rowKeys, site); add(x, branch, residual); layerNorm(out, mean, rstd, x, w, b, eps)
// and, backward,
//     layerNormBackward(dx, dw, db, dout, x, w, mean, rstd); copy(dresidual, dx); dropout(dbranch, rowKeys, site)
// with bf16 tensors in place of float ones. The statistics are computed from x as stored (rounded to bf16), so the
// backward pass, which reads the stored x, sees exactly the x that was normalised.
//
// Layouts: rows of H contiguous values, row-major [n, H]; H % 8 == 0 and H <= 1024 (every preset: 128 .. 1024; a
// row lives in registers, 32 values per lane at most: raise LN_MAX_CHUNKS for wider rows).
// weight, bias: bf16 [H] (the AdamW compute copies); mean, rstd: float [n]; dweight, dbias: float [H] (+=).
// row_keys: unsigned long long [n], the per-token keys of MosaicBert.forward (Hashing.key(seed, step, sample,
// position)); site: the dropout site (MosaicBert.siteAttention(layer) ...). p == 0 (or row_keys NULL) means no
// dropout.
//
// Entry points and launch configuration:
//   layernorm_forward(out, x_out, mean, rstd, inp, residual, weight, bias, n, H, eps, p, row_keys, site)
//       x = dropout(inp) + residual (residual may be NULL: x = dropout(inp)); x_out = x (may be NULL when residual
//       is NULL and p == 0, as x is then inp itself); out = (x - mean) * rstd * weight + bias.
//       grid ceil(n / 8), block 256 (one warp per row), no shared memory.
//   layernorm_backward(dx, dbranch, partials, dout, x, weight, mean, rstd, n, H, p, row_keys, site)
//       dx = the gradient of x (what flows to the residual); dbranch (may be NULL) = dropout(dx), what flows into
//       the branch; partials = float [gridDim.x, 2, H]: this block's sums of dout * xhat (dweight) and dout (dbias).
//       grid: any number of blocks (CudaBackend takes min(256, ceil(n / 4)): 256 fills an H100/H200 twice and keeps
//       the partials at 2 MiB for H = 1024; fewer rows need fewer blocks); block 128 (4 warps, rows strided over all warps of the grid); dynamic shared memory
//       4 warps * 2 * H * 4 bytes = 32 * H bytes (24 KiB at H = 768, 32 KiB at 1024: no opt-in needed).
//   layernorm_param_grads(dweight, dbias, partials, num_partials, H)
//       dweight[c] += sum_k partials[k, 0, c]; dbias[c] += sum_k partials[k, 1, c], k in order.
//       grid ceil(H / 256), block 256.
//   The grid is a function of n alone, so the parameter gradients are the same bits on every run: no atomics.

#include "common.cuh"

#define LN_MAX_CHUNKS 4  // 16-byte chunks (8 values) per lane: H <= 32 * 4 * 8 = 1024

/** x = dropout(inp) + residual for the 8 values of one chunk, rounded to bf16 (returned as float). */
__device__ __forceinline__ void ln_branch_plus_residual(float x[8], uint4 inp, const uint4* residual, int col0, float p,
                                                        float keep_scale, unsigned long long row_key) {
  unpack_bf16x8(inp, x);
  if (p > 0.0f) {
#pragma unroll
    for (int k = 0; k < 8; ++k) x[k] = dropout_apply(x[k], row_key, col0 + k, p, keep_scale);
  }
  if (residual) {
    float r[8];
    unpack_bf16x8(*residual, r);
#pragma unroll
    for (int k = 0; k < 8; ++k) x[k] += r[k];
  }
#pragma unroll
  for (int k = 0; k < 8; ++k) x[k] = bf16_to_float(float_to_bf16(x[k]));
}

extern "C" __global__ void __launch_bounds__(256, 1)
layernorm_forward(ALIGN16 bf16* out, ALIGN16 bf16* x_out, float* mean, float* rstd, ALIGN16 const bf16* inp,
                  ALIGN16 const bf16* residual, ALIGN16 const bf16* weight, ALIGN16 const bf16* bias, int n, int H,
                  float eps, float p, const unsigned long long* row_keys, unsigned long long site) {
  const int row = blockIdx.x * 8 + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= n) return;  // whole warps leave together
  const int chunks = H >> 3;
  const bool drop = p > 0.0f && row_keys != 0;
  const float keep_scale = drop ? dropout_keep_scale(p) : 1.0f;
  const unsigned long long row_key = drop ? hash_key2(row_keys[row], site) : 0ull;
  const long long base = (long long)row * H;

  // The row in registers: lane owns chunks lane, lane + 32, ...
  float x[LN_MAX_CHUNKS][8];
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < LN_MAX_CHUNKS; ++i) {
    const int c = lane + 32 * i;
    if (c < chunks) {
      const long long off = base + c * 8;
      ln_branch_plus_residual(x[i], *(const uint4*)(inp + off), residual ? (const uint4*)(residual + off) : 0,
                              c * 8, drop ? p : 0.0f, keep_scale, row_key);
      if (x_out) *(uint4*)(x_out + off) = pack_bf16x8(x[i]);
#pragma unroll
      for (int k = 0; k < 8; ++k) sum += x[i][k];
    }
  }
  const float mu = warp_sum(sum) / H;
  float var = 0.0f;  // two passes over registers: no cancellation from E[x^2] - E[x]^2
#pragma unroll
  for (int i = 0; i < LN_MAX_CHUNKS; ++i) {
    if (lane + 32 * i < chunks) {
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        const float d = x[i][k] - mu;
        var += d * d;
      }
    }
  }
  const float rs = rsqrtf(warp_sum(var) / H + eps);
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
#pragma unroll
  for (int i = 0; i < LN_MAX_CHUNKS; ++i) {
    const int c = lane + 32 * i;
    if (c < chunks) {
      float w[8], b[8], y[8];
      unpack_bf16x8(*(const uint4*)(weight + c * 8), w);
      unpack_bf16x8(*(const uint4*)(bias + c * 8), b);
#pragma unroll
      for (int k = 0; k < 8; ++k) y[k] = (x[i][k] - mu) * rs * w[k] + b[k];
      *(uint4*)(out + base + c * 8) = pack_bf16x8(y);
    }
  }
}

extern "C" __global__ void __launch_bounds__(128)
layernorm_backward(ALIGN16 bf16* dx, ALIGN16 bf16* dbranch, float* partials, ALIGN16 const bf16* dout,
                   ALIGN16 const bf16* x, ALIGN16 const bf16* weight, const float* mean, const float* rstd, int n,
                   int H, float p, const unsigned long long* row_keys, unsigned long long site) {
  // Per warp: dweight and dbias sums of the columns its lanes own; no two lanes share a column, so plain += works.
  // Column 8c + k is kept at k * (H / 8) + c, so that the 32 lanes (consecutive c) touch 32 consecutive banks.
  DYNAMIC_SHARED(float, ln_acc);  // [4 warps][2][H]
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int chunks = H >> 3;
  float* acc_w = ln_acc + warp * 2 * H;
  float* acc_b = acc_w + H;
  for (int c = lane; c < 2 * H; c += 32) acc_w[c] = 0.0f;  // covers acc_b too
  __syncwarp();  // lanes zero other lanes' columns: finish before any lane adds to its own
  const bool drop = dbranch != 0 && p > 0.0f && row_keys != 0;
  const float keep_scale = drop ? dropout_keep_scale(p) : 1.0f;

  for (int row = blockIdx.x * 4 + warp; row < n; row += gridDim.x * 4) {
    const long long base = (long long)row * H;
    const float mu = mean[row];
    const float rs = rstd[row];
    // Pass 1: xhat, dout * weight and their row sums, and the parameter-gradient sums.
    uint4 dout_raw[LN_MAX_CHUNKS], x_raw[LN_MAX_CHUNKS];
    float sum_g = 0.0f, sum_gx = 0.0f;
#pragma unroll
    for (int i = 0; i < LN_MAX_CHUNKS; ++i) {
      const int c = lane + 32 * i;
      if (c < chunks) {
        dout_raw[i] = *(const uint4*)(dout + base + c * 8);
        x_raw[i] = *(const uint4*)(x + base + c * 8);
        float g[8], xv[8], w[8];
        unpack_bf16x8(dout_raw[i], g);
        unpack_bf16x8(x_raw[i], xv);
        unpack_bf16x8(*(const uint4*)(weight + c * 8), w);
#pragma unroll
        for (int k = 0; k < 8; ++k) {
          const float xhat = (xv[k] - mu) * rs;
          acc_w[k * chunks + c] += g[k] * xhat;
          acc_b[k * chunks + c] += g[k];
          const float gw = g[k] * w[k];
          sum_g += gw;
          sum_gx += gw * xhat;
        }
      }
    }
    const float mean_g = warp_sum(sum_g) / H;
    const float mean_gx = warp_sum(sum_gx) / H;
    // Pass 2: dx = (dout * w - mean(dout * w) - xhat * mean(dout * w * xhat)) * rstd.
    const unsigned long long row_key = drop ? hash_key2(row_keys[row], site) : 0ull;
#pragma unroll
    for (int i = 0; i < LN_MAX_CHUNKS; ++i) {
      const int c = lane + 32 * i;
      if (c < chunks) {
        float g[8], xv[8], w[8], d[8];
        unpack_bf16x8(dout_raw[i], g);
        unpack_bf16x8(x_raw[i], xv);
        unpack_bf16x8(*(const uint4*)(weight + c * 8), w);
#pragma unroll
        for (int k = 0; k < 8; ++k) d[k] = (g[k] * w[k] - mean_g - (xv[k] - mu) * rs * mean_gx) * rs;
        *(uint4*)(dx + base + c * 8) = pack_bf16x8(d);
        if (dbranch) {
          if (drop) {
#pragma unroll
            for (int k = 0; k < 8; ++k) d[k] = dropout_apply(d[k], row_key, c * 8 + k, p, keep_scale);
          }
          *(uint4*)(dbranch + base + c * 8) = pack_bf16x8(d);
        }
      }
    }
  }
  __syncthreads();
  // This block's partial sums, warps added in a fixed order.
  float* out = partials + (long long)blockIdx.x * 2 * H;
  for (int col = threadIdx.x; col < 2 * H; col += blockDim.x) {
    const int half = col >= H ? H : 0;  // dweight, then dbias
    const int s = half + ((col - half) & 7) * chunks + ((col - half) >> 3);
    out[col] = ((ln_acc[s] + ln_acc[2 * H + s]) + ln_acc[4 * H + s]) + ln_acc[6 * H + s];
  }
}

extern "C" __global__ void __launch_bounds__(256, 1)
layernorm_param_grads(float* dweight, float* dbias, const float* partials, int num_partials, int H) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= H) return;
  float sw = 0.0f, sb = 0.0f;
  for (int k = 0; k < num_partials; ++k) {
    sw += partials[(long long)k * 2 * H + c];
    sb += partials[(long long)k * 2 * H + H + c];
  }
  dweight[c] += sw;
  dbias[c] += sb;
}
