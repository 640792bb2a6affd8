// Host stand-in for the CUDA backend's common.cuh: runs the kernel files as plain C++ on the CPU, one block at a time,
// its threads as fibers where they meet (EmulatedDevice, the CUDA backend's tests' device).
// It defines what the real header leaves to the hardware, then includes the real header (device/common.cuh beside
// this folder) for everything else, so the hash, dropout and bf16 packing code is the kernels' own.
//
// What it models, from the PTX ISA and the CUDA programming guide:
// - __syncthreads, __syncwarp: barriers of the block's threads and of a warp's 32 lanes (a thread that has returned
//   counts as arrived, as on sm_70 and later);
// - __shfl_xor_sync (full mask): the warp's lanes exchange through a buffer and a warp barrier;
// - __shared__: static storage, shared by the threads of the one block that runs at a time; dynamic shared memory
//   (DYNAMIC_SHARED) a buffer of the launch's size;
// - attention.cu's PTX wrappers: cp.async copies wait in a queue of their thread and land at its next
//   cp.async.wait_group 0, the latest moment the hardware allows, so that reading a stage before its wait, or copying
//   into a stage that other warps still read, gives wrong results here too; ldmatrix (.x4, .trans) and mma.sync.m16n8k16.row.col bf16 hand each lane the fragment elements the
//   PTX ISA's fragment layouts name, the mma accumulating in float32 in k order (the hardware's order of its float32
//   additions is unspecified: results agree to rounding);
// - cvt.rn.bf16: round to nearest even; __f*_rn: IEEE float operations (compile with -ffp-contract=off).
// - the hardware's limits: 16-byte vectors (uint4) are 16-byte aligned (build with -fsanitize=alignment, and a
//   misaligned vector access stops the server), gridDim.y and gridDim.z at most 65,535, 1,024 threads a block, 48 KiB
//   of dynamic shared memory (more needs cudaFuncSetAttribute, which CudaDevice does not call).
// A kernel that relies on something not modelled here (other PTX, atomics, warp-synchronous code without
// __shfl_*_sync or __syncwarp) does not compile or does not mean the same thing.
#pragma once
#define MOSAICBERT_HOST_EMULATION 1

#include <math.h>  // expf, exp2f, logf, log2f, sqrtf, fmaxf in the global namespace, as CUDA has them
#include <stdint.h>
#include <string.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct alignas(16) uint4 {  // as CUDA's: a misaligned uint4 access faults on the GPU
  unsigned x, y, z, w;
};
struct dim3 {
  unsigned x, y, z;
};
inline dim3 blockIdx, blockDim, gridDim;
inline thread_local dim3 threadIdx;

inline float __uint_as_float(unsigned u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline float __int_as_float(int i) { return __uint_as_float((unsigned)i); }

inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }  // CUDA's is within 2 ulp of this
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

typedef unsigned short bf16;

/** cvt.rn.bf16.f32: round to nearest even, NaN stays NaN. */
inline bf16 float_to_bf16(float x) {
  unsigned u;
  memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (bf16)(u >> 16);
}

inline unsigned pack_bf16x2(float lo, float hi) {
  return (unsigned)float_to_bf16(lo) | ((unsigned)float_to_bf16(hi) << 16);
}

// ---------------------------------------------------------------------------------------------------------------
// Threads, blocks and barriers: a block's CUDA threads are fibers on one OS thread, switched at barriers
// and shuffles, so a run is deterministic and cheap; host_run_grid runs a grid block by block.
// ---------------------------------------------------------------------------------------------------------------

constexpr int HOST_MAX_WARPS = 32;

/** Per warp: what its lanes exchange in one warp-wide step (shuffle, ldmatrix, mma). */
struct HostWarpExchange {
  unsigned word[32];
  unsigned address[32];
  unsigned fragment[32][4];  // ldmatrix's results, gathered when the last lane arrives
  unsigned a[32][4];
  unsigned b[32][2];
};
/**
 * Two per warp, used in turn: a lane writes step k's slot, waits for its warp, reads. It can write step k + 1's slot
 * while others still read step k's, and step k + 2 reuses step k's slot only after every lane has passed step k + 1's
 * barrier, that is after reading: one barrier per step instead of two.
 */
inline HostWarpExchange host_exchange[HOST_MAX_WARPS][2];
/** Warp-wide steps each thread has taken in this block (the same count in every lane of a warp). */
inline unsigned host_steps[HOST_MAX_WARPS * 32];

/** A barrier of `alive` threads: the generation moves on when all of them have arrived. */
struct HostBarrier {
  unsigned alive, arrived, generation;
};
inline HostBarrier host_block_barrier;
inline HostBarrier host_warp_barriers[HOST_MAX_WARPS];

// A fiber switch saves the callee-saved registers on the running stack and loads another stack: a few instructions
// on x86-64 Linux (below), ucontext elsewhere (correct too, but each switch costs two system calls).
#if defined(__x86_64__) && defined(__linux__)
extern "C" void host_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .globl host_switch
  .type host_switch, @function
host_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size host_switch, .-host_switch
)");

struct HostContext {
  void* sp;
};

inline void host_context_switch(HostContext& save, HostContext& load) { host_switch(&save.sp, load.sp); }

/** A context that starts entry() on the given stack: host_switch's pops, then its ret into entry. */
inline void host_context_make(HostContext& c, unsigned char* stack, size_t bytes, void (*entry)()) {
  uintptr_t top = ((uintptr_t)(stack + bytes)) & ~(uintptr_t)15;
  void** sp = (void**)top;
  *--sp = nullptr;          // entry's return address (never used): entry sees rsp % 16 == 8, as after a call
  *--sp = (void*)entry;     // host_switch's ret lands here
  for (int r = 0; r < 6; ++r) *--sp = nullptr;  // rbp rbx r12 r13 r14 r15
  c.sp = sp;
}
#else
struct HostContext {
  ucontext_t uc;
};

inline void host_context_switch(HostContext& save, HostContext& load) { swapcontext(&save.uc, &load.uc); }

inline void host_context_make(HostContext& c, unsigned char* stack, size_t bytes, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
#endif

/** A fiber's stack: mmap'ed, with an inaccessible page below it, so that an overflow faults instead of corrupting. */
struct HostStack {
  static constexpr size_t BYTES = 256 << 10;
  unsigned char* base = nullptr;  // the guard page; the stack is the BYTES above it

  HostStack() = default;
  HostStack(const HostStack&) = delete;
  HostStack(HostStack&& other) noexcept : base(other.base) { other.base = nullptr; }
  ~HostStack() {
    if (base) munmap(base, BYTES + 4096);
  }
  void allocate() {
    void* p = mmap(nullptr, BYTES + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      fprintf(stderr, "cannot map a fiber stack\n");
      abort();
    }
    mprotect(p, 4096, PROT_NONE);
    base = (unsigned char*)p;
  }
  unsigned char* bottom() { return base + 4096; }
};

struct HostFiber {
  HostContext context;
  HostStack stack;
  bool done;
};
inline std::vector<HostFiber> host_fibers;
inline HostContext host_scheduler;
inline unsigned host_current;
inline const std::function<void()>* host_kernel;

inline int host_warp() { return (int)(threadIdx.x >> 5); }
inline int host_lane() { return (int)(threadIdx.x & 31); }

/** This thread's slot for its next warp-wide step. */
inline HostWarpExchange& host_next_exchange() { return host_exchange[host_warp()][host_steps[threadIdx.x]++ & 1]; }

/** Back to the scheduler, which resumes the block's other threads in turn. */
inline void host_yield() { host_context_switch(host_fibers[host_current].context, host_scheduler); }

inline bool host_in_fiber = false;

/** Arrives; the last to arrive runs on_open (all others waiting, so it sees one moment) and lets everyone go. */
template <class OnOpen>
inline void host_arrive_and_wait(HostBarrier& b, OnOpen on_open) {
  if (!host_in_fiber) {
    fprintf(stderr, "a barrier or warp-wide step in a kernel run thread by thread: its file must be run as fibers\n");
    abort();
  }
  const unsigned generation = b.generation;
  if (++b.arrived == b.alive) {
    on_open();
    b.arrived = 0;
    ++b.generation;
    return;
  }
  while (b.generation == generation) host_yield();
}

inline void host_arrive_and_wait(HostBarrier& b) {
  host_arrive_and_wait(b, [] {});
}

/** A returned thread no longer counts: the threads waiting for it go on (as on sm_70 and later). */
inline void host_leave(HostBarrier& b) {
  if (--b.alive > 0 && b.arrived == b.alive) {
    b.arrived = 0;
    ++b.generation;
  }
}

inline void host_warp_sync() { host_arrive_and_wait(host_warp_barriers[host_warp()]); }

inline void __syncthreads() { host_arrive_and_wait(host_block_barrier); }

inline void __syncwarp() { host_warp_sync(); }

inline void host_fiber_main() {
  (*host_kernel)();
  host_leave(host_warp_barriers[host_warp()]);
  host_leave(host_block_barrier);
  host_fibers[host_current].done = true;
  host_yield();  // never resumed
}

/** One cp.async copy not yet waited for: where it goes in shared memory, what it reads, 16 bytes or 0 (zero fill). */
struct HostPendingCopy {
  unsigned dst;
  const void* src;
  int src_bytes;
};
/** Per thread of the running block, its cp.async copies since its last wait (see att_cp_async_wait_all). */
inline std::vector<HostPendingCopy> host_pending_copies[HOST_MAX_WARPS * 32];

/** The launch's dynamic shared memory (sized by the runner). */
inline std::vector<unsigned char> host_dynamic_smem_buffer;
inline unsigned char* host_dynamic_smem;
#define DYNAMIC_SHARED(T, name) T* name = (T*)host_dynamic_smem

/**
 * Runs kernel() for every thread of a gx x gy x gz grid of blocks of `threads` threads. `together`: the kernel's
 * threads meet (barriers, shuffles, shared memory), so each block's threads run as fibers; else one after another.
 * Returns false when a block's threads wait at a barrier that the others never reach (a deadlock on a GPU).
 */
template <class Kernel>
inline bool host_run_grid(unsigned gx, unsigned gy, unsigned gz, unsigned threads, unsigned shared_bytes,
                          bool together, Kernel kernel) {
  if (gx == 0 || gy == 0 || gz == 0 || gx > 2147483647u || gy > 65535 || gz > 65535) {
    throw std::invalid_argument("grid (" + std::to_string(gx) + ", " + std::to_string(gy) + ", " +
                                std::to_string(gz) + ") is outside the hardware's limits (x 1..2^31-1, y and z " +
                                "1..65535)");
  }
  if (threads == 0 || threads > 1024) {
    throw std::invalid_argument("a block of " + std::to_string(threads) + " threads (the hardware takes 1..1024)");
  }
  if (shared_bytes > 48 * 1024) {
    throw std::invalid_argument(std::to_string(shared_bytes) + " bytes of dynamic shared memory: over 48 KiB needs "
                                "cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize)");
  }
  gridDim = {gx, gy, gz};
  blockDim = {threads, 1, 1};
  host_dynamic_smem_buffer.assign(shared_bytes + 16, 0);
  host_dynamic_smem = host_dynamic_smem_buffer.data();
  const std::function<void()> body = kernel;
  host_kernel = &body;
  if (together && host_fibers.size() < threads) {
    host_fibers.resize(threads);
    for (HostFiber& f : host_fibers) {
      if (!f.stack.base) f.stack.allocate();
    }
  }
  for (unsigned z = 0; z < gz; ++z)
    for (unsigned y = 0; y < gy; ++y)
      for (unsigned x = 0; x < gx; ++x) {
        blockIdx = {x, y, z};
        if (!together) {
          for (unsigned t = 0; t < threads; ++t) {
            threadIdx = {t, 0, 0};
            kernel();
          }
          continue;
        }
        host_block_barrier = {threads, 0, 0};
        for (unsigned w = 0; w < (threads + 31) / 32; ++w) {
          host_warp_barriers[w] = {threads - 32 * w < 32 ? threads - 32 * w : 32, 0, 0};
        }
        for (unsigned t = 0; t < threads; ++t) {
          host_steps[t] = 0;
          host_pending_copies[t].clear();  // a block that ended without waiting leaves nothing for the next
        }
        for (unsigned t = 0; t < threads; ++t) {
          HostFiber& f = host_fibers[t];
          host_context_make(f.context, f.stack.bottom(), HostStack::BYTES, host_fiber_main);
          f.done = false;
        }
        host_in_fiber = true;
        unsigned remaining = threads;
        unsigned long long last_progress = ~0ull;
        unsigned idle_rounds = 0;
        while (remaining > 0) {
          for (unsigned t = 0; t < threads; ++t) {
            if (host_fibers[t].done) continue;
            host_current = t;
            threadIdx = {t, 0, 0};
            host_context_switch(host_scheduler, host_fibers[t].context);
            if (host_fibers[t].done) --remaining;
          }
          // Progress: a thread finished or a barrier opened. Rounds without any mean threads wait for one another
          // at barriers that the others never reach: a deadlock on a GPU.
          unsigned long long progress = host_block_barrier.generation + (unsigned long long)(threads - remaining);
          for (unsigned w = 0; w < (threads + 31) / 32; ++w) progress += host_warp_barriers[w].generation;
          idle_rounds = progress == last_progress ? idle_rounds + 1 : 0;
          last_progress = progress;
          if (idle_rounds > 2) {
            host_in_fiber = false;
            return false;
          }
        }
        host_in_fiber = false;
      }
  return true;
}

/** For 4-byte values (float, int), as the kernels shuffle them. */
template <class T>
inline T __shfl_xor_sync(unsigned /*full mask*/, T v, int lane_mask) {
  static_assert(sizeof(T) == 4, "4-byte shuffles only");
  HostWarpExchange& x = host_next_exchange();
  memcpy(&x.word[host_lane()], &v, 4);
  host_warp_sync();
  T r;
  memcpy(&r, &x.word[host_lane() ^ lane_mask], 4);
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// Everything else but attention.cu's PTX: the real header
// ---------------------------------------------------------------------------------------------------------------

#include "../device/common.cuh"

// ---------------------------------------------------------------------------------------------------------------
// attention.cu's PTX wrappers
// ---------------------------------------------------------------------------------------------------------------

/** Shared-memory "addresses" are 32-bit offsets from an anchor (static storage lies within 2 GiB of it). */
inline unsigned char host_smem_anchor;

inline unsigned att_smem_addr(const void* p) { return (unsigned)((uintptr_t)p - (uintptr_t)&host_smem_anchor); }

inline unsigned char* host_smem(unsigned address) {
  return (unsigned char*)((uintptr_t)&host_smem_anchor + (uintptr_t)(intptr_t)(int)address);
}

inline void att_cp_async16(unsigned dst, const void* src, int src_bytes) {
  if ((((uintptr_t)host_smem(dst)) & 15) || (src_bytes && ((uintptr_t)src & 15))) {
    // Inside a fiber nothing can unwind to the server's handler: stop as a GPU does on a misaligned address.
    fprintf(stderr, "device fault: cp.async of 16 bytes between addresses that are not 16-byte aligned\n");
    abort();
  }
  host_pending_copies[threadIdx.x].push_back({dst, src, src_bytes});
}

inline void att_cp_async_commit() {}

/** cp.async.wait_group 0: this thread's copies land now (the kernels pass 16 bytes or 0, a zero fill). */
inline void att_cp_async_wait_all() {
  for (const HostPendingCopy& c : host_pending_copies[threadIdx.x]) {
    if (c.src_bytes == 16) {
      memcpy(host_smem(c.dst), c.src, 16);
    } else {
      memset(host_smem(c.dst), 0, 16);
    }
  }
  host_pending_copies[threadIdx.x].clear();
}

/** Lane l's row address is row (l & 7) of matrix (l >> 3); lane l receives, of each matrix, row l / 4, elements
 *  2 (l % 4) and 2 (l % 4) + 1; transposed: elements (2 (l % 4), l / 4) and (2 (l % 4) + 1, l / 4). */
inline void host_ldmatrix_x4(unsigned r[4], unsigned address, bool trans) {
  HostWarpExchange& x = host_next_exchange();
  const int lane = host_lane();
  x.address[lane] = address;
  // The whole warp reads shared memory at one moment, as the hardware does: when the last lane arrives.
  host_arrive_and_wait(host_warp_barriers[host_warp()], [&x, trans] {
    for (int l = 0; l < 32; ++l) {
      for (int i = 0; i < 4; ++i) {
        bf16 lo, hi;
        if (!trans) {
          const unsigned char* row = host_smem(x.address[i * 8 + (l >> 2)]);
          memcpy(&lo, row + 4 * (l & 3), 2);
          memcpy(&hi, row + 4 * (l & 3) + 2, 2);
        } else {
          memcpy(&lo, host_smem(x.address[i * 8 + 2 * (l & 3)]) + 2 * (l >> 2), 2);
          memcpy(&hi, host_smem(x.address[i * 8 + 2 * (l & 3) + 1]) + 2 * (l >> 2), 2);
        }
        x.fragment[l][i] = (unsigned)lo | ((unsigned)hi << 16);
      }
    }
  });
  for (int i = 0; i < 4; ++i) r[i] = x.fragment[lane][i];
}

inline void att_ldmatrix_x4(unsigned r[4], unsigned address) { host_ldmatrix_x4(r, address, false); }

inline void att_ldmatrix_x4_trans(unsigned r[4], unsigned address) { host_ldmatrix_x4(r, address, true); }

/** The bf16 element (e = 0: low half, 1: high half) of a fragment register. */
inline float host_half(unsigned reg, int e) { return e ? bf16x2_hi(reg) : bf16x2_lo(reg); }

/** c[16x8] += A[16x16] B[16x8], fragments as att_mma's comment in attention.cu (the PTX ISA's m16n8k16 layouts). */
inline void att_mma(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
  HostWarpExchange& x = host_next_exchange();
  const int l = host_lane();
  for (int i = 0; i < 4; ++i) x.a[l][i] = a[i];
  x.b[l][0] = b0;
  x.b[l][1] = b1;
  host_warp_sync();
  // A(row, k) sits in lane (row % 8) * 4 + (k % 8) / 2, register row / 8 + 2 (k / 8), half k % 2;
  // B(k, col) in lane col * 4 + (k % 8) / 2, register k / 8, half k % 2.
  const int g = l >> 2;
  const int t = l & 3;
  float d[4];
  for (int i = 0; i < 4; ++i) {
    const int row = g + 8 * (i >> 1);
    const int col = 2 * t + (i & 1);
    float sum = c[i];
    for (int k = 0; k < 16; ++k) {
      const float av = host_half(x.a[(row & 7) * 4 + ((k & 7) >> 1)][(row >> 3) + 2 * (k >> 3)], k & 1);
      const float bv = host_half(x.b[col * 4 + ((k & 7) >> 1)][k >> 3], k & 1);
      sum += av * bv;
    }
    d[i] = sum;
  }
  for (int i = 0; i < 4; ++i) c[i] = d[i];
}
