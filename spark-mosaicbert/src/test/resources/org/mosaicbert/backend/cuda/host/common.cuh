// Host stand-in for the CUDA backend's common.cuh: runs a kernel file as plain C++ on the CPU (AttentionSmallOnHostTest).
// A kernel call here is one (block, thread) at a time, so only kernels whose threads never talk to each other (no
// shared memory, no warp shuffles, no barriers, no inline PTX) mean the same thing in both worlds. The bf16 helpers
// repeat common.cuh's with portable bit arithmetic instead of PTX cvt (same rounding: to nearest even).
#pragma once
#include <math.h>  // expf, logf, sqrtf, fmaxf in the global namespace, as CUDA has them
#include <string.h>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct uint4 {
  unsigned x, y, z, w;
};
struct dim3 {
  unsigned x, y, z;
};
inline dim3 blockIdx, threadIdx, blockDim, gridDim;

typedef unsigned short bf16;

inline float __uint_as_float(unsigned u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline float __int_as_float(int i) { return __uint_as_float((unsigned)i); }
#define F32_INF __int_as_float(0x7f800000)

inline float bf16_to_float(bf16 x) { return __uint_as_float(((unsigned)x) << 16); }

inline bf16 float_to_bf16(float x) {
  unsigned u;
  memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x40);  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (bf16)(u >> 16);
}

inline unsigned pack_bf16x2(float lo, float hi) { return (unsigned)float_to_bf16(lo) | ((unsigned)float_to_bf16(hi) << 16); }
inline float bf16x2_lo(unsigned v) { return __uint_as_float(v << 16); }
inline float bf16x2_hi(unsigned v) { return __uint_as_float(v & 0xffff0000u); }

inline void unpack_bf16x8(uint4 v, float f[8]) {
  f[0] = bf16x2_lo(v.x); f[1] = bf16x2_hi(v.x);
  f[2] = bf16x2_lo(v.y); f[3] = bf16x2_hi(v.y);
  f[4] = bf16x2_lo(v.z); f[5] = bf16x2_hi(v.z);
  f[6] = bf16x2_lo(v.w); f[7] = bf16x2_hi(v.w);
}

inline uint4 pack_bf16x8(const float f[8]) {
  uint4 v;
  v.x = pack_bf16x2(f[0], f[1]);
  v.y = pack_bf16x2(f[2], f[3]);
  v.z = pack_bf16x2(f[4], f[5]);
  v.w = pack_bf16x2(f[6], f[7]);
  return v;
}
