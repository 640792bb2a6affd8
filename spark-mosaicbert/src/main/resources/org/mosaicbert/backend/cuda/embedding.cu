// embedding.cu: word + token-type embedding lookup, and its backward pass as a deterministic scatter-add.
//
// Matches CpuBackend.embedding (out[i] = word[ids[i]] + type[type_ids[i]]) and CpuBackend.embeddingBackward
// (dword[ids[i]] += dout[i] except where ids[i] == pad id; dtype[type_ids[i]] += dout[i]).
//
// Layouts: ids, type_ids int [n]; word bf16 [vocab, H], type bf16 [type_vocab, H] (compute copies); out, dout bf16
// [n, H]; dword, dtype float [*, H] (parameter gradients, +=). H % 8 == 0.
//
// The backward pass adds many rows into few table rows (every [MASK] of a batch into one row, half the batch into
// each token type), so a plain atomicAdd would make the sums depend on thread timing. Instead the host, which holds
// ids and type_ids as int arrays anyway, groups the rows: per table (word, then type, separately) it sorts the
// row indices by (id, row) and cuts each id's run into segments of at most 32 rows. Then:
//   embedding_backward_segments sums each segment's rows in row order; a segment that is its id's only one adds
//     its sum straight into the table row, the others write theirs to a partials slot;
//   embedding_backward_combine adds, for each id with several segments, its slots in order into the table row.
// Every table row is written by one thread per column, in an order fixed by the ids alone: the same bits on every
// run, whatever the GPU.
//
// Host-built arrays for one table (num_segments segments, num_groups ids that have more than one segment):
//   rows         int [n']                 row indices sorted by (id, row); rows of the pad id may be left out
//   seg_begin    int [num_segments + 1]   segment s covers rows[seg_begin[s] .. seg_begin[s+1])
//   seg_id       int [num_segments]       the id (table row) of segment s
//   seg_slot     int [num_segments]       -1: the id has this one segment; else its slot in partials
//   group_id     int [num_groups]         an id with several segments
//   group_slot   int [num_groups + 1]     its slots: group_slot[g] .. group_slot[g+1] (consecutive, in row order)
//   partials     float [slots, H]         scratch; slots <= 2 * n / 32 + 1 with 32-row segments
//
// Entry points:
//   embedding_forward(out, ids, type_ids, word, type, n, H)
//       grid-stride over n * H / 8 chunks: grid ceil(n * H / 8 / 256) (capped at 65535), block 256.
//   embedding_backward_segments(dtable, partials, dout, rows, seg_begin, seg_id, seg_slot, num_segments, H, pad_id)
//       grid num_segments (<= 2^31 - 1), block 128 (each thread 8 columns, looping over H / 8 chunks).
//       Segments of pad_id are skipped (pass -1 for the type table).
//   embedding_backward_combine(dtable, partials, group_id, group_slot, num_groups, H, pad_id)
//       grid num_groups, block 128. Launch after embedding_backward_segments on the same stream.

#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256, 1)
embedding_forward(ALIGN16 bf16* out, const int* ids, const int* type_ids, ALIGN16 const bf16* word,
                  ALIGN16 const bf16* type, int n, int H) {
  const int chunks_per_row = H >> 3;
  for (long long chunk = (long long)blockIdx.x * blockDim.x + threadIdx.x; chunk < (long long)n * chunks_per_row;
       chunk += (long long)gridDim.x * blockDim.x) {
    const int r = (int)(chunk / chunks_per_row);
    const int c0 = (int)(chunk - (long long)r * chunks_per_row) * 8;
    float w[8], t[8];
    unpack_bf16x8(*(const uint4*)(word + (long long)ids[r] * H + c0), w);
    unpack_bf16x8(*(const uint4*)(type + (long long)type_ids[r] * H + c0), t);
#pragma unroll
    for (int k = 0; k < 8; ++k) w[k] += t[k];
    *(uint4*)(out + (long long)r * H + c0) = pack_bf16x8(w);
  }
}

extern "C" __global__ void __launch_bounds__(128)
embedding_backward_segments(float* dtable, float* partials, ALIGN16 const bf16* dout, const int* rows,
                            const int* seg_begin, const int* seg_id, const int* seg_slot, int num_segments, int H,
                            int pad_id) {
  const int s = blockIdx.x;
  if (s >= num_segments) return;
  const int id = seg_id[s];
  if (id == pad_id) return;  // the pad row gets no gradient from the lookup (padding_idx)
  const int begin = seg_begin[s];
  const int end = seg_begin[s + 1];
  const int slot = seg_slot[s];
  float* dst = slot < 0 ? dtable + (long long)id * H : partials + (long long)slot * H;
  for (int c = threadIdx.x; c < (H >> 3); c += blockDim.x) {
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = begin; i < end; ++i) {
      float v[8];
      unpack_bf16x8(*(const uint4*)(dout + (long long)rows[i] * H + c * 8), v);
#pragma unroll
      for (int k = 0; k < 8; ++k) acc[k] += v[k];
    }
    float* d = dst + c * 8;
    if (slot < 0) {  // the id's only segment: add into the table row
#pragma unroll
      for (int k = 0; k < 8; ++k) d[k] += acc[k];
    } else {
#pragma unroll
      for (int k = 0; k < 8; ++k) d[k] = acc[k];
    }
  }
}

extern "C" __global__ void __launch_bounds__(128)
embedding_backward_combine(float* dtable, const float* partials, const int* group_id, const int* group_slot,
                           int num_groups, int H, int pad_id) {
  const int gi = blockIdx.x;
  if (gi >= num_groups) return;
  const int id = group_id[gi];
  if (id == pad_id) return;
  const int begin = group_slot[gi];
  const int end = group_slot[gi + 1];
  float* dst = dtable + (long long)id * H;
  for (int c = threadIdx.x; c < H; c += blockDim.x) {
    float acc = 0.0f;
    for (int k = begin; k < end; ++k) acc += partials[(long long)k * H + c];
    dst[c] += acc;
  }
}
