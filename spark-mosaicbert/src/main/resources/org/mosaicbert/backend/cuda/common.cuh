// common.cuh: helpers shared by the CUDA kernel files of the MosaicBERT engine.
//
// Every kernel file also runs on the CPU in every build, in the tests' emulated device (test resource
// host/common.cuh stands in for this file's PTX and hardware parts and includes the rest).
//
// How it is compiled: every .cu file beside this one is an NVRTC program of its own, compiled at run time
// straight to CUBIN for the device's sm_XX, with the options
//     -std=c++17 --gpu-architecture=sm_XX
// (no --use_fast_math: the dropout scale and the AdamW step rely on IEEE division and square root). Each .cu
// file does `#include "common.cuh"`; the host hands this file to nvrtcCreateProgram as a header named
// "common.cuh". The files include no other header at all, not even <cuda_bf16.h>: bf16 is carried as its 16 bits
// (an unsigned short) and converted with the PTX `cvt` instructions of sm_80, so the sources mean the same thing
// to nvcc and to NVRTC. sm_80 (A100) is the oldest target: bf16 mma.sync, cvt.rn.bf16 and cp.async need it.
// CudaKernelsCompileTest compiles every file with nvcc for sm_80 and sm_90 with the same options and this header.
// The hash functions below, compiled as host C++, give Hashing's bits on keys including negative ones.
//
// Conventions of every kernel file:
// - bf16 for activations, activation gradients and the compute copies of the weights; float32 for the master
//   weights, their gradients, AdamW's moments and every statistic (LayerNorm mean/rstd, attention logsumexp,
//   cross-entropy). Every sum is accumulated in float32.
// - Parameter gradients are added to (+=), activation gradients and forward outputs are written (=), as in
//   org.mosaicbert.backend.Backend.
// - A pointer parameter that a kernel always moves eight bf16 (16 bytes) at a time is marked ALIGN16 in its
//   signature (below): the tensor must start on a 16-byte boundary (an element offset that is a multiple of 8 from a
//   cudaMalloc'd base) and have rows whose width is a multiple of 8. Kernels that move 16 bytes only for some widths
//   (gather_rows, scatter_add_rows and loss.cu's, when the width is a multiple of 8) say so in their file instead.
// - Sums that cross threads are made in a fixed order (partials written per block, then summed in block order):
//   no floating-point atomics, so a gradient is the same bits on every run with the same launch configuration.

#pragma once

// ---------------------------------------------------------------------------------------------------------------
// bf16 storage
// ---------------------------------------------------------------------------------------------------------------

/** A bfloat16 value as its 16 bits: the upper half of a float32. */
typedef unsigned short bf16;

/**
 * Marks a kernel's pointer parameter that must be 16-byte aligned (see the conventions above). It expands to nothing:
 * the host reads it from the signature (KernelSignatures) and refuses a misaligned argument at launch, by kernel and
 * parameter, where the GPU would fault later with no name.
 */
#define ALIGN16

__device__ __forceinline__ float bf16_to_float(bf16 x) { return __uint_as_float(((unsigned)x) << 16); }

// The PTX below has host versions in the CPU emulation that tests run the kernels in (test resource
// host/common.cuh, which defines MOSAICBERT_HOST_EMULATION and then includes this file).
#ifndef MOSAICBERT_HOST_EMULATION

/** float32 to bf16, rounding to nearest even (NaN stays NaN). */
__device__ __forceinline__ bf16 float_to_bf16(float x) {
  unsigned short r;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(x));
  return r;
}

/** Two floats to a bf16 pair in one register: lo at the lower address (the lower 16 bits), as mma.sync wants. */
__device__ __forceinline__ unsigned pack_bf16x2(float lo, float hi) {
  unsigned r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));  // first source goes to the upper half
  return r;
}

/** A kernel's dynamic shared memory (the launch's sharedBytes), as an array of T. */
#define DYNAMIC_SHARED(T, name) extern __shared__ T name[]

#endif  // MOSAICBERT_HOST_EMULATION

__device__ __forceinline__ float bf16x2_lo(unsigned v) { return __uint_as_float(v << 16); }
__device__ __forceinline__ float bf16x2_hi(unsigned v) { return __uint_as_float(v & 0xffff0000u); }

/** Eight bf16 (16 bytes, one uint4) to floats. */
__device__ __forceinline__ void unpack_bf16x8(uint4 v, float f[8]) {
  f[0] = bf16x2_lo(v.x); f[1] = bf16x2_hi(v.x);
  f[2] = bf16x2_lo(v.y); f[3] = bf16x2_hi(v.y);
  f[4] = bf16x2_lo(v.z); f[5] = bf16x2_hi(v.z);
  f[6] = bf16x2_lo(v.w); f[7] = bf16x2_hi(v.w);
}

/** Eight floats to eight bf16 (one uint4, for a 16-byte store). */
__device__ __forceinline__ uint4 pack_bf16x8(const float f[8]) {
  uint4 v;
  v.x = pack_bf16x2(f[0], f[1]);
  v.y = pack_bf16x2(f[2], f[3]);
  v.z = pack_bf16x2(f[4], f[5]);
  v.w = pack_bf16x2(f[6], f[7]);
  return v;
}

/** +infinity without <cmath> (NVRTC programs here include no header). */
#define F32_INF __int_as_float(0x7f800000)

// ---------------------------------------------------------------------------------------------------------------
// Warp reductions (all 32 lanes take part)
// ---------------------------------------------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Counter-based randomness: the same bits as org.mosaicbert.random.Hashing, so a dropout mask drawn here is the
// mask the CPU backend draws for the same (row key, site, column). Java's long arithmetic wraps modulo 2^64 and its
// >>> is a logical shift, which is exactly unsigned long long arithmetic here.
// ---------------------------------------------------------------------------------------------------------------

#define HASH_GOLDEN 0x9E3779B97F4A7C15ull
#define HASH_KEY_ADD 0x632BE59BD9B4E019ull

/** Hashing.mix: SplitMix64's finalizer. */
__device__ __forceinline__ unsigned long long hash_mix(unsigned long long z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/** Hashing.key(a, b). */
__device__ __forceinline__ unsigned long long hash_key2(unsigned long long a, unsigned long long b) {
  unsigned long long h = HASH_GOLDEN;
  h = hash_mix(h + a * HASH_GOLDEN + HASH_KEY_ADD);
  h = hash_mix(h + b * HASH_GOLDEN + HASH_KEY_ADD);
  return h;
}

/** Hashing.uniform(key, index): the top 24 bits as a float in [0, 1); exact, so the comparison with p is too. */
__device__ __forceinline__ float hash_uniform(unsigned long long key, unsigned long long index) {
  return (float)(hash_mix(key + index * HASH_GOLDEN) >> 40) * 0x1.0p-24f;
}

/**
 * CpuBackend.dropout for one element: zero when uniform(key(rowKey, site), column) < p, else scaled by 1/(1-p).
 * keep_scale is 1/(1-p) rounded as Java rounds it (see dropout_keep_scale); row_key is already key(rowKey, site).
 */
__device__ __forceinline__ float dropout_apply(float v, unsigned long long row_key, int column, float p,
                                               float keep_scale) {
  return hash_uniform(row_key, (unsigned long long)column) < p ? 0.0f : v * keep_scale;
}

/** 1f / (1f - p) with IEEE rounding, as Java computes it. */
__device__ __forceinline__ float dropout_keep_scale(float p) { return __fdiv_rn(1.0f, __fsub_rn(1.0f, p)); }
