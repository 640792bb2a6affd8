// elementwise.cu: GeGLU, GELU, tanh, dropout, add and the float32 <-> bf16 casts; bf16 storage, float32 math.
//
// GELU is the exact erf form everywhere (docs/model.md §1.6, §1.8): GELU(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
// GELU'(x) = Phi(x) + x phi(x). erff is CUDA's (within 2 ulp of erf); CpuBackend uses a rational approximation within
// a few ulps (Erf.java): both are float32-exact erf for all that a bf16 result can show.
//
// Dropout draws the CpuBackend's mask bit for bit: element (r, c) of a [rows, width] tensor is dropped when
// Hashing.uniform(Hashing.key(row_keys[r], site), c) < p (see common.cuh), and kept ones are scaled by 1/(1-p)
// rounded as Java rounds it. p == 0 (or row_keys NULL) means no dropout. row_keys: unsigned long long [rows].
//
// Entry points (n is a long long count of elements; "grid-stride" kernels take any grid, e.g. ceil(work / 256)
// capped at 65535 blocks, block 256, no shared memory):
//   geglu_forward(out, g, n, I)                               CpuBackend.geglu
//       g [n, 2I] (gate = first half, linear = second half), out [n, I]: out = GELU(gate) * lin.
//       I % 8 == 0. Grid-stride over n * I / 8 chunks of 8.
//   geglu_backward(dg, dout, g, n, I)                         CpuBackend.gegluBackward
//       dg [n, 2I] from dout [n, I]: dgate = dout * lin * GELU'(gate), dlin = dout * GELU(gate).
//       I % 8 == 0. Grid-stride over n * I / 8 chunks.
//       The MLP's dropout after GeGLU is dropout_forward's, a launch of its own.
//   dropout_forward(x, rows, width, p, row_keys, site)       CpuBackend.dropout, in place on bf16 [rows, width]
//       The same call on a gradient is the backward pass. Grid-stride over rows * ceil(width / 8) chunks of 8.
//   gelu_forward(out, inp, n) / gelu_backward(dinp, dout, inp, n)       CpuBackend.gelu / geluBackward
//   tanh_forward(out, inp, n) / tanh_backward(dinp, dout, out, n)       CpuBackend.tanh / tanhBackward
//   add_bf16(out, a, b, n)                                              CpuBackend.add (out may alias a or b)
//   add_bias_rows(out, bias, rows, width)    out[r, c] += bias[c]: a GEMM's bias where cuBLASLt's epilogue cannot
//                                            take it (a bias pointer under 16-byte alignment); n = rows * width
//   cast_f32_to_bf16(out, inp, n) / cast_bf16_to_f32(out, inp, n)       for upload and download
//   All of these are grid-stride over n elements.

#include "common.cuh"

#define EW_INV_SQRT2 0.70710678118654752f
#define EW_INV_SQRT_2PI 0.39894228040143268f

__device__ __forceinline__ float ew_gelu(float x) { return 0.5f * x * (1.0f + erff(x * EW_INV_SQRT2)); }

__device__ __forceinline__ float ew_gelu_grad(float x) {
  const float cdf = 0.5f * (1.0f + erff(x * EW_INV_SQRT2));
  return cdf + x * EW_INV_SQRT_2PI * expf(-0.5f * x * x);
}

/** First element index of this thread and the grid's stride, for grid-stride loops over long long counts. */
#define EW_GRID_STRIDE_LOOP(i, n)                                                     \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n);       \
       i += (long long)gridDim.x * blockDim.x)

extern "C" __global__ void __launch_bounds__(256, 1)
geglu_forward(ALIGN16 bf16* out, ALIGN16 const bf16* g, int n, int I) {
  const int chunks_per_row = I >> 3;
  EW_GRID_STRIDE_LOOP(chunk, (long long)n * chunks_per_row) {
    const int r = (int)(chunk / chunks_per_row);
    const int c0 = (int)(chunk - (long long)r * chunks_per_row) * 8;  // column inside [0, I)
    const bf16* grow = g + (long long)r * 2 * I;
    float gate[8], lin[8], m[8];
    unpack_bf16x8(*(const uint4*)(grow + c0), gate);
    unpack_bf16x8(*(const uint4*)(grow + I + c0), lin);
#pragma unroll
    for (int k = 0; k < 8; ++k) m[k] = ew_gelu(gate[k]) * lin[k];
    *(uint4*)(out + (long long)r * I + c0) = pack_bf16x8(m);
  }
}

extern "C" __global__ void __launch_bounds__(256, 1)
geglu_backward(ALIGN16 bf16* dg, ALIGN16 const bf16* dout, ALIGN16 const bf16* g, int n, int I) {
  const int chunks_per_row = I >> 3;
  EW_GRID_STRIDE_LOOP(chunk, (long long)n * chunks_per_row) {
    const int r = (int)(chunk / chunks_per_row);
    const int c0 = (int)(chunk - (long long)r * chunks_per_row) * 8;
    const long long grow = (long long)r * 2 * I;
    float gate[8], lin[8], dm[8], dgate[8], dlin[8];
    unpack_bf16x8(*(const uint4*)(g + grow + c0), gate);
    unpack_bf16x8(*(const uint4*)(g + grow + I + c0), lin);
    unpack_bf16x8(*(const uint4*)(dout + (long long)r * I + c0), dm);
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const float x = gate[k];
      const float cdf = 0.5f * (1.0f + erff(x * EW_INV_SQRT2));
      const float pdf = EW_INV_SQRT_2PI * expf(-0.5f * x * x);
      dgate[k] = dm[k] * lin[k] * (cdf + x * pdf);
      dlin[k] = dm[k] * x * cdf;
    }
    *(uint4*)(dg + grow + c0) = pack_bf16x8(dgate);
    *(uint4*)(dg + grow + I + c0) = pack_bf16x8(dlin);
  }
}

// Each thread takes 8 consecutive columns of a row: the row's key is hashed once for the 8 (not once per element),
// and where rows are 16-byte aligned they move as one 16-byte load and store.
extern "C" __global__ void __launch_bounds__(256, 1)
dropout_forward(bf16* x, int rows, int width, float p, const unsigned long long* row_keys, unsigned long long site) {
  if (!(p > 0.0f) || row_keys == 0) return;
  const float keep_scale = dropout_keep_scale(p);
  const int chunks_per_row = (width + 7) >> 3;
  const bool vectors = (width & 7) == 0 && (reinterpret_cast<unsigned long long>(x) & 15) == 0;
  EW_GRID_STRIDE_LOOP(chunk, (long long)rows * chunks_per_row) {
    const int r = (int)(chunk / chunks_per_row);
    const int c0 = (int)(chunk - (long long)r * chunks_per_row) * 8;  // first column of the 8
    const unsigned long long row_key = hash_key2(row_keys[r], site);
    bf16* at = x + (long long)r * width + c0;
    if (vectors) {
      float v[8];
      unpack_bf16x8(*(const uint4*)at, v);
#pragma unroll
      for (int k = 0; k < 8; k++) v[k] = dropout_apply(v[k], row_key, c0 + k, p, keep_scale);
      *(uint4*)at = pack_bf16x8(v);
    } else {
      for (int k = 0; k < 8 && c0 + k < width; k++) {
        at[k] = float_to_bf16(dropout_apply(bf16_to_float(at[k]), row_key, c0 + k, p, keep_scale));
      }
    }
  }
}

extern "C" __global__ void __launch_bounds__(256, 1)
gelu_forward(bf16* out, const bf16* inp, long long n) {
  EW_GRID_STRIDE_LOOP(i, n) out[i] = float_to_bf16(ew_gelu(bf16_to_float(inp[i])));
}

extern "C" __global__ void __launch_bounds__(256, 1)
gelu_backward(bf16* dinp, const bf16* dout, const bf16* inp, long long n) {
  EW_GRID_STRIDE_LOOP(i, n) dinp[i] = float_to_bf16(bf16_to_float(dout[i]) * ew_gelu_grad(bf16_to_float(inp[i])));
}

extern "C" __global__ void __launch_bounds__(256, 1)
tanh_forward(bf16* out, const bf16* inp, long long n) {
  EW_GRID_STRIDE_LOOP(i, n) out[i] = float_to_bf16(tanhf(bf16_to_float(inp[i])));
}

/** dinp = dout * (1 - out^2), from the stored forward output as CpuBackend.tanhBackward does. */
extern "C" __global__ void __launch_bounds__(256, 1)
tanh_backward(bf16* dinp, const bf16* dout, const bf16* out, long long n) {
  EW_GRID_STRIDE_LOOP(i, n) {
    const float t = bf16_to_float(out[i]);
    dinp[i] = float_to_bf16(bf16_to_float(dout[i]) * (1.0f - t * t));
  }
}

extern "C" __global__ void __launch_bounds__(256, 1)
add_bf16(bf16* out, const bf16* a, const bf16* b, long long n) {
  EW_GRID_STRIDE_LOOP(i, n) out[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
}

extern "C" __global__ void __launch_bounds__(256, 1)
add_bias_rows(bf16* out, const bf16* bias, long long rows, int width) {
  EW_GRID_STRIDE_LOOP(i, rows * width) out[i] = float_to_bf16(bf16_to_float(out[i]) + bf16_to_float(bias[i % width]));
}

extern "C" __global__ void __launch_bounds__(256, 1)
cast_f32_to_bf16(bf16* out, const float* inp, long long n) {
  EW_GRID_STRIDE_LOOP(i, n) out[i] = float_to_bf16(inp[i]);
}

extern "C" __global__ void __launch_bounds__(256, 1)
cast_bf16_to_f32(float* out, const bf16* inp, long long n) {
  EW_GRID_STRIDE_LOOP(i, n) out[i] = bf16_to_float(inp[i]);
}
