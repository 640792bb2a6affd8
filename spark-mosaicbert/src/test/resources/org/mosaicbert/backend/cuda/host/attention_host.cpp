// Runs the CUDA backend's attention kernels on the CPU with the host stand-in for common.cuh, grid by grid in the
// order and launch configuration CudaBackend uses: one block at a time, its threads
// as fibers (AttentionKernelsOnHostTest). Head dimension 64 takes attention.cu's tensor-core kernels, 16 and 32
// attention_small.cu's. Binary little-endian files:
//   in:  int D, heads, num_seqs, nnz; int cu_seqlens[num_seqs + 1]; float slopes[heads];
//        bf16 qkv[nnz * 3 * heads * D]; bf16 dctx[nnz * heads * D]
//   out: bf16 ctx[nnz * heads * D]; float lse[heads * nnz]; bf16 dqkv[nnz * 3 * heads * D]
#include "attention.cu"
#include "attention_small.cu"

#include <cstdio>
#include <cstdlib>
#include <vector>

/** Runs a kernel as CudaBackend launches it; a deadlock (threads waiting at a barrier forever) ends the run. */
template <class Kernel>
static void launch(dim3 grid, unsigned threads, Kernel kernel) {
  if (!host_run_grid(grid.x, grid.y, grid.z, threads, 0, true, kernel)) {
    fprintf(stderr, "deadlock: threads wait at a barrier that the others never reach\n");
    std::exit(3);
  }
}

template <class T>
static void read_all(FILE* f, std::vector<T>& v, size_t n) {
  v.resize(n);
  if (n && fread(v.data(), sizeof(T), n, f) != n) {
    fprintf(stderr, "short input\n");
    std::exit(2);
  }
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: attention_host IN OUT\n");
    return 2;
  }
  FILE* in = fopen(argv[1], "rb");
  if (!in) return 2;
  std::vector<int> head;
  read_all(in, head, 4);
  const int D = head[0], heads = head[1], num_seqs = head[2], nnz = head[3];
  const int H = heads * D;
  std::vector<int> cu;
  std::vector<float> slopes;
  std::vector<bf16> qkv, dctx;
  read_all(in, cu, num_seqs + 1);
  read_all(in, slopes, heads);
  read_all(in, qkv, (size_t)nnz * 3 * H);
  read_all(in, dctx, (size_t)nnz * H);
  fclose(in);
  std::vector<bf16> ctx((size_t)nnz * H), dqkv((size_t)nnz * 3 * H);
  std::vector<float> lse((size_t)heads * nnz), dsum((size_t)heads * nnz);
  int longest = 1;
  for (int b = 0; b < num_seqs; ++b) longest = std::max(longest, cu[b + 1] - cu[b]);
  const unsigned tiles = (longest + 63) / 64;
  const unsigned rows = (nnz + SMALL_THREADS - 1) / SMALL_THREADS;
  bf16* c = ctx.data();
  bf16* dq = dqkv.data();
  const bf16* q = qkv.data();
  const bf16* dc = dctx.data();
  float* l = lse.data();
  float* ds = dsum.data();
  const int* cs = cu.data();
  const float* sl = slopes.data();
  if (D == 64) {
    launch({tiles, (unsigned)num_seqs, (unsigned)heads}, 128, [=] { attention_forward(c, l, q, cs, sl, heads, nnz); });
    launch({(unsigned)((nnz * heads + 31) / 32), 1, 1}, 256, [=] { attention_backward_dot(ds, dc, c, heads, nnz); });
    launch({tiles, (unsigned)num_seqs, (unsigned)heads}, 128,
           [=] { attention_backward_dkdv(dq, dc, q, l, ds, cs, sl, heads, nnz); });
    launch({tiles, (unsigned)num_seqs, (unsigned)heads}, 128,
           [=] { attention_backward_dq(dq, dc, q, l, ds, cs, sl, heads, nnz); });
  } else if (D == 16) {
    launch({rows, (unsigned)heads, 1}, 128, [=] { attention_small_forward_d16(c, l, q, cs, sl, heads, nnz, num_seqs); });
    launch({rows, (unsigned)heads, 1}, 128,
           [=] { attention_small_backward_dq_d16(dq, ds, dc, c, q, l, cs, sl, heads, nnz, num_seqs); });
    launch({rows, (unsigned)heads, 1}, 128,
           [=] { attention_small_backward_dkdv_d16(dq, dc, q, l, ds, cs, sl, heads, nnz, num_seqs); });
  } else if (D == 32) {
    launch({rows, (unsigned)heads, 1}, 128, [=] { attention_small_forward_d32(c, l, q, cs, sl, heads, nnz, num_seqs); });
    launch({rows, (unsigned)heads, 1}, 128,
           [=] { attention_small_backward_dq_d32(dq, ds, dc, c, q, l, cs, sl, heads, nnz, num_seqs); });
    launch({rows, (unsigned)heads, 1}, 128,
           [=] { attention_small_backward_dkdv_d32(dq, dc, q, l, ds, cs, sl, heads, nnz, num_seqs); });
  } else {
    fprintf(stderr, "head dimension %d: the kernels take 16, 32 or 64\n", D);
    return 2;
  }
  FILE* out = fopen(argv[2], "wb");
  if (!out) return 2;
  fwrite(ctx.data(), sizeof(bf16), ctx.size(), out);
  fwrite(lse.data(), sizeof(float), lse.size(), out);
  fwrite(dqkv.data(), sizeof(bf16), dqkv.size(), out);
  return fclose(out) == 0 ? 0 : 2;
}
