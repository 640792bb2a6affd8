// reduce.cu: sums in a fixed order: column sums for the bias gradients of linear layers, and the sum of squares of a
// float32 buffer (the gradient norm and the weights' check in training).
//
// Matches the dbias part of CpuBackend.linearBackward: dbias[c] += sum over rows of dout[r][c]. cuBLAS computes the
// weight and input gradients; this file adds the bias gradient, in two steps so that the sum has a fixed order
// (no atomics; the same bits on every run with the same grid):
//   bias_grad_partials(partials, dout, rows, cols)
//       dout bf16 [rows, cols]; partials float [gridDim.y, cols]: partials[y][c] = sum of dout[r][c] over the rows
//       of chunk y (rows split into gridDim.y equal chunks, in order).
//       grid (ceil(cols / 64), chunks), block 256 (8 warps x 32 lanes, 2 columns per lane); chunks: e.g.
//       min(ceil(rows / 256), 64), fixed for a given rows so that the result does not depend on the GPU.
//   sum_partials(out, partials, num_partials, cols)
//       out[c] += sum_k partials[k][c], k in order. out float [cols] (the dbias of ParameterLayout's gradients).
//       grid ceil(cols / 256), block 256.
// Any cols (the decoder bias's 30528, a classifier's 2).
//
// Matches CpuBackend.sumOfSquares up to the order of the double additions (the same bits on every run with the same
// n; NaN and infinities propagate), again in two steps:
//   sum_of_squares_partials(partials, x, n)
//       x float [n]; partials double [gridDim.x]: partials[b] = sum of x[i]^2, in double, over chunk b of x (n split
//       into gridDim.x equal chunks, in order): each thread sums a stride of the chunk in order, then a fixed tree.
//       grid min(ceil(n / 4096), 1024), a function of n alone; block 256.
//   sum_doubles(out, values, count)
//       out[0] = sum of values[0 .. count) in double: thread strides in order, then a fixed tree. grid 1, block 256.

#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256, 1)
bias_grad_partials(float* partials, const bf16* dout, int rows, int cols) {
  __shared__ float warp_sums[8][64];
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int c0 = blockIdx.x * 64 + 2 * lane;  // this lane's two columns: c0, c0 + 1
  const int chunk = (rows + gridDim.y - 1) / gridDim.y;
  const int r_begin = blockIdx.y * chunk;
  const int r_end = min(rows, r_begin + chunk);
  float s0 = 0.0f, s1 = 0.0f;
  // Warps take the chunk's rows round robin; a warp reads 128 contiguous bytes of a row.
  for (int r = r_begin + warp; r < r_end; r += 8) {
    const bf16* row = dout + (long long)r * cols;
    if (c0 < cols) s0 += bf16_to_float(row[c0]);
    if (c0 + 1 < cols) s1 += bf16_to_float(row[c0 + 1]);
  }
  warp_sums[warp][2 * lane] = s0;
  warp_sums[warp][2 * lane + 1] = s1;
  __syncthreads();
  if (threadIdx.x < 64) {
    const int c = blockIdx.x * 64 + threadIdx.x;
    float s = 0.0f;
    for (int w = 0; w < 8; ++w) s += warp_sums[w][threadIdx.x];  // warps in a fixed order
    if (c < cols) partials[(long long)blockIdx.y * cols + c] = s;
  }
}

extern "C" __global__ void __launch_bounds__(256, 1)
sum_partials(float* out, const float* partials, int num_partials, int cols) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float s = 0.0f;
  for (int k = 0; k < num_partials; ++k) s += partials[(long long)k * cols + c];
  out[c] += s;
}

/** The block's 256 values summed in a fixed tree; the sum lands in sums[0]. */
__device__ __forceinline__ void block_sum_doubles(double* sums) {
  __syncthreads();
  for (int half = 128; half > 0; half >>= 1) {
    if (threadIdx.x < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    __syncthreads();
  }
}

extern "C" __global__ void __launch_bounds__(256)
sum_of_squares_partials(double* partials, const float* x, long long n) {
  __shared__ double sums[256];
  const long long chunk = (n + gridDim.x - 1) / gridDim.x;
  const long long begin = (long long)blockIdx.x * chunk;
  const long long end = begin + chunk < n ? begin + chunk : n;
  double s = 0.0;
  for (long long i = begin + threadIdx.x; i < end; i += 256) {
    const double v = (double)x[i];
    s += v * v;
  }
  sums[threadIdx.x] = s;
  block_sum_doubles(sums);
  if (threadIdx.x == 0) partials[blockIdx.x] = sums[0];
}

extern "C" __global__ void __launch_bounds__(256)
sum_doubles(double* out, const double* values, int count) {
  __shared__ double sums[256];
  double s = 0.0;
  for (int i = threadIdx.x; i < count; i += 256) s += values[i];
  sums[threadIdx.x] = s;
  block_sum_doubles(sums);
  if (threadIdx.x == 0) out[0] = sums[0];
}
