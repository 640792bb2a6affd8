// unpad.cu: gather and scatter-add of chosen rows of an unpadded [nnz, W] tensor (the MLM head's masked rows, the
// classifier's first rows).
//
// Matches CpuBackend.gatherRows (out[i] = inp[rows[i]]) and CpuBackend.scatterAddRows (out[rows[i]] += inp[i]).
//
// Layouts, all bf16, rows of width W contiguous: inp/out [count or nnz, W]; rows int [count]. W % 8 == 0 moves 16
// bytes at a time, any other W one value at a time.
//
// Entry points (block 256, no shared memory):
//   gather_rows(out, inp, rows, count, W)          grid (ceil(W / 8 / 256), min(count, 65535)); strides over rows
//   scatter_add_rows(out, inp, rows, count, W)     same grid. The rows must be distinct (MosaicBert's masked rows and
//       first rows are); then no two threads touch one element and no atomics are needed. The host checks that.

#include "common.cuh"

/** Copies (or adds, when add) one row of W values; threads of the block's x dimension split the row. */
__device__ __forceinline__ void unpad_row(bf16* dst, const bf16* src, int W, bool add) {
  const int stride = gridDim.x * blockDim.x;
  const int first = blockIdx.x * blockDim.x + threadIdx.x;
  if ((W & 7) == 0) {
    for (int c = first; c < (W >> 3); c += stride) {
      const uint4 s = *(const uint4*)(src + c * 8);
      if (add) {
        float a[8], b[8];
        unpack_bf16x8(*(const uint4*)(dst + c * 8), a);
        unpack_bf16x8(s, b);
#pragma unroll
        for (int k = 0; k < 8; ++k) a[k] += b[k];
        *(uint4*)(dst + c * 8) = pack_bf16x8(a);
      } else {
        *(uint4*)(dst + c * 8) = s;
      }
    }
  } else {
    for (int c = first; c < W; c += stride) {
      dst[c] = add ? float_to_bf16(bf16_to_float(dst[c]) + bf16_to_float(src[c])) : src[c];
    }
  }
}

extern "C" __global__ void __launch_bounds__(256, 1)
gather_rows(bf16* out, const bf16* inp, const int* rows, int count, int W) {
  for (int i = blockIdx.y; i < count; i += gridDim.y) {
    unpad_row(out + (long long)i * W, inp + (long long)rows[i] * W, W, false);
  }
}

extern "C" __global__ void __launch_bounds__(256, 1)
scatter_add_rows(bf16* out, const bf16* inp, const int* rows, int count, int W) {
  for (int i = blockIdx.y; i < count; i += gridDim.y) {
    unpad_row(out + (long long)rows[i] * W, inp + (long long)i * W, W, true);
  }
}
