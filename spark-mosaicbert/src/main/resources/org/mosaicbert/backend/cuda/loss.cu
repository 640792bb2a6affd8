// loss.cu: softmax cross-entropy over the scored rows only (the MLM head's masked rows, or one row per sequence for
// classification), fused with the softmax, forward and backward.
//
// Matches CpuBackend.crossEntropy and CpuBackend.crossEntropyBackward, with one difference of storage: the CPU
// backend keeps the probabilities [rows, classes] for the backward pass; here the forward pass keeps one float
// logsumexp per row and the backward pass recomputes softmax = exp(logit - lse) from the logits, or the forward
// pass writes the gradient straight away (fused) when the loss scale is known before the forward pass, as it is
// in training (1 / masked tokens of the global batch).
//
// Layouts: logits, dlogits bf16 [rows, V] (dlogits may alias logits: each element is read before it is written,
// by the same thread); labels int [rows], each in [0, V) or negative; losses, lse float [rows]; correct int [rows].
//   losses[r]  = logsumexp(logits[r]) - logits[r][labels[r]]       (float32 from bf16 logits)
//   correct[r] = 1 when the first largest logit of row r is at labels[r], else 0 (CpuBackend's argmax: first max)
//   dlogits[r] = (softmax(logits[r]) - onehot(labels[r])) * scale
// loss_sum adds them up on the device (in double, a fixed order: the same bits every run), so that the host reads
// two numbers when it wants them, not every row after every micro-batch. A row whose label is negative is not scored: loss 0, correct 0,
// gradient 0 (CpuBackend never receives such rows; this only makes an ignore label safe here).
//
// Entry points (grid = rows (<= 2^31 - 1), block 256, no dynamic shared memory; V % 8 == 0 reads 16 bytes at a
// time, any other V (a classifier's 2 or 3 labels) one value at a time):
//   cross_entropy_forward(losses, correct, lse, dlogits, logits, labels, rows, V, scale)
//       dlogits NULL: forward only (evaluation); else also writes the gradient with this scale (training).
//   cross_entropy_backward(dlogits, logits, lse, labels, rows, V, scale)
//       from the lse of cross_entropy_forward.
//   softmax_rows(probs, logits, lse, rows, V)
//       probs = softmax(logits) from the lse of cross_entropy_forward (what a caller reads as class probabilities).
//   loss_sum(out, losses, correct, rows)
//       out[0] = sum of losses, out[1] = sum of correct, both double; grid 1, block 256.

#include "common.cuh"

#define CE_THREADS 256

/** A running (max, sum of exp(x - max)) pair plus the first position of the largest value. */
struct CeState {
  float max;
  float sum;
  float best;
  int arg;
};

__device__ __forceinline__ void ce_add(CeState& st, float v, int index) {
  if (v > st.max) {
    st.sum = st.sum * expf(st.max - v) + 1.0f;  // expf(-inf) = 0 for the first value
    st.max = v;
  } else {
    st.sum += expf(v - st.max);
  }
  if (v > st.best) {  // strictly greater: indices arrive in increasing order, so ties keep the first
    st.best = v;
    st.arg = index;
  }
}

__device__ __forceinline__ CeState ce_merge(CeState a, CeState b) {
  CeState r;
  if (b.max > a.max) {
    CeState t = a;
    a = b;
    b = t;
  }
  r.max = a.max;
  r.sum = a.sum + (b.max == -F32_INF ? 0.0f : b.sum * expf(b.max - a.max));  // no -inf - -inf
  if (b.best > a.best || (b.best == a.best && b.arg < a.arg)) {
    r.best = b.best;
    r.arg = b.arg;
  } else {
    r.best = a.best;
    r.arg = a.arg;
  }
  return r;
}

/** The block's combined state, returned to every thread. */
__device__ __forceinline__ CeState ce_block_reduce(CeState st) {
  __shared__ CeState warp_states[CE_THREADS / 32];
  for (int o = 16; o > 0; o >>= 1) {
    CeState other;
    other.max = __shfl_xor_sync(0xffffffffu, st.max, o);
    other.sum = __shfl_xor_sync(0xffffffffu, st.sum, o);
    other.best = __shfl_xor_sync(0xffffffffu, st.best, o);
    other.arg = __shfl_xor_sync(0xffffffffu, st.arg, o);
    st = ce_merge(st, other);
  }
  const int warp = threadIdx.x >> 5;
  if ((threadIdx.x & 31) == 0) warp_states[warp] = st;
  __syncthreads();
  CeState all = warp_states[0];
  for (int w = 1; w < CE_THREADS / 32; ++w) all = ce_merge(all, warp_states[w]);  // fixed order: same in every thread
  return all;
}

/** dlogits row = (exp(logit - lse) - onehot(label)) * scale; a negative label gives a zero row. */
__device__ __forceinline__ void ce_write_grad(bf16* drow, const bf16* row, int V, int label, float lse, float scale) {
  const bool scored = label >= 0;
  if ((V & 7) == 0) {
    for (int c = threadIdx.x; c < (V >> 3); c += CE_THREADS) {
      float v[8];
      unpack_bf16x8(*(const uint4*)(row + c * 8), v);
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        v[k] = scored ? (expf(v[k] - lse) - (c * 8 + k == label ? 1.0f : 0.0f)) * scale : 0.0f;
      }
      *(uint4*)(drow + c * 8) = pack_bf16x8(v);
    }
  } else {
    for (int c = threadIdx.x; c < V; c += CE_THREADS) {
      const float v = bf16_to_float(row[c]);
      drow[c] = float_to_bf16(scored ? (expf(v - lse) - (c == label ? 1.0f : 0.0f)) * scale : 0.0f);
    }
  }
}

extern "C" __global__ void __launch_bounds__(CE_THREADS)
cross_entropy_forward(float* losses, int* correct, float* lse, bf16* dlogits, const bf16* logits, const int* labels,
                      int rows, int V, float scale) {
  const int r = blockIdx.x;
  if (r >= rows) return;
  const bf16* row = logits + (long long)r * V;
  const int label = labels[r];

  CeState st;
  st.max = -F32_INF;
  st.sum = 0.0f;
  st.best = -F32_INF;
  st.arg = 0x7fffffff;
  if ((V & 7) == 0) {
    for (int c = threadIdx.x; c < (V >> 3); c += CE_THREADS) {
      float v[8];
      unpack_bf16x8(*(const uint4*)(row + c * 8), v);
#pragma unroll
      for (int k = 0; k < 8; ++k) ce_add(st, v[k], c * 8 + k);
    }
  } else {
    for (int c = threadIdx.x; c < V; c += CE_THREADS) ce_add(st, bf16_to_float(row[c]), c);
  }
  // Read before the barrier in ce_block_reduce: after it, other threads may overwrite the row (dlogits == logits).
  const float label_logit = threadIdx.x == 0 && label >= 0 ? bf16_to_float(row[label]) : 0.0f;
  const CeState all = ce_block_reduce(st);
  const float row_lse = all.max + logf(all.sum);
  if (threadIdx.x == 0) {
    const bool scored = label >= 0;
    losses[r] = scored ? row_lse - label_logit : 0.0f;
    correct[r] = scored && all.arg == label ? 1 : 0;
    lse[r] = row_lse;
  }
  if (dlogits) {
    // A thread writes only the elements it read itself, and the label's logit was read before the barrier, so
    // dlogits may alias logits whatever the timing.
    ce_write_grad(dlogits + (long long)r * V, row, V, label, row_lse, scale);
  }
}

extern "C" __global__ void __launch_bounds__(CE_THREADS)
cross_entropy_backward(bf16* dlogits, const bf16* logits, const float* lse, const int* labels, int rows, int V,
                       float scale) {
  const int r = blockIdx.x;
  if (r >= rows) return;
  ce_write_grad(dlogits + (long long)r * V, logits + (long long)r * V, V, labels[r], lse[r], scale);
}

extern "C" __global__ void __launch_bounds__(CE_THREADS)
softmax_rows(bf16* probs, const bf16* logits, const float* lse, int rows, int V) {
  const int r = blockIdx.x;
  if (r >= rows) return;
  // The label V is scored (not negative) and matches no column, so the "gradient" at scale 1 is the softmax itself.
  ce_write_grad(probs + (long long)r * V, logits + (long long)r * V, V, V, lse[r], 1.0f);
}

/** out = {sum of losses, sum of correct}: each thread sums a stride of rows in order, then a fixed tree. */
extern "C" __global__ void __launch_bounds__(256)
loss_sum(double* out, const float* losses, const int* correct, int rows) {
  __shared__ double sums[256];
  __shared__ double hits[256];
  double s = 0.0, c = 0.0;
  for (int r = threadIdx.x; r < rows; r += 256) {
    s += (double)losses[r];
    c += (double)correct[r];
  }
  sums[threadIdx.x] = s;
  hits[threadIdx.x] = c;
  __syncthreads();
  for (int half = 128; half > 0; half >>= 1) {
    if (threadIdx.x < half) {
      sums[threadIdx.x] += sums[threadIdx.x + half];
      hits[threadIdx.x] += hits[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[0] = sums[0];
    out[1] = hits[0];
  }
}
