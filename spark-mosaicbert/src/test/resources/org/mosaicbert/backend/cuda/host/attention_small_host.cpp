// Runs attention_small.cu's kernels on the CPU, grid by grid, one (block, thread) at a time, in the order
// CudaBackend launches them (AttentionSmallOnHostTest). Binary little-endian files:
//   in:  int D, heads, num_seqs, nnz; int cu_seqlens[num_seqs + 1]; float slopes[heads];
//        bf16 qkv[nnz * 3 * heads * D]; bf16 dctx[nnz * heads * D]
//   out: bf16 ctx[nnz * heads * D]; float lse[heads * nnz]; bf16 dqkv[nnz * 3 * heads * D]
#include "attention_small.cu"

#include <cstdio>
#include <cstdlib>
#include <vector>

template <class Kernel>
static void run_grid(unsigned blocks_x, unsigned blocks_y, Kernel kernel) {
  gridDim = {blocks_x, blocks_y, 1};
  blockDim = {SMALL_THREADS, 1, 1};
  for (unsigned by = 0; by < blocks_y; ++by)
    for (unsigned bx = 0; bx < blocks_x; ++bx)
      for (unsigned t = 0; t < SMALL_THREADS; ++t) {
        blockIdx = {bx, by, 0};
        threadIdx = {t, 0, 0};
        kernel();
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
    fprintf(stderr, "usage: attention_small_host IN OUT\n");
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
  const unsigned blocks = (nnz + SMALL_THREADS - 1) / SMALL_THREADS;
  if (D == 16) {
    run_grid(blocks, heads, [&] { attention_small_forward_d16(ctx.data(), lse.data(), qkv.data(), cu.data(), slopes.data(), heads, nnz, num_seqs); });
    run_grid(blocks, heads, [&] { attention_small_backward_dq_d16(dqkv.data(), dsum.data(), dctx.data(), ctx.data(), qkv.data(), lse.data(), cu.data(), slopes.data(), heads, nnz, num_seqs); });
    run_grid(blocks, heads, [&] { attention_small_backward_dkdv_d16(dqkv.data(), dctx.data(), qkv.data(), lse.data(), dsum.data(), cu.data(), slopes.data(), heads, nnz, num_seqs); });
  } else if (D == 32) {
    run_grid(blocks, heads, [&] { attention_small_forward_d32(ctx.data(), lse.data(), qkv.data(), cu.data(), slopes.data(), heads, nnz, num_seqs); });
    run_grid(blocks, heads, [&] { attention_small_backward_dq_d32(dqkv.data(), dsum.data(), dctx.data(), ctx.data(), qkv.data(), lse.data(), cu.data(), slopes.data(), heads, nnz, num_seqs); });
    run_grid(blocks, heads, [&] { attention_small_backward_dkdv_d32(dqkv.data(), dctx.data(), qkv.data(), lse.data(), dsum.data(), cu.data(), slopes.data(), heads, nnz, num_seqs); });
  } else {
    fprintf(stderr, "head dimension %d: the kernels take 16 or 32\n", D);
    return 2;
  }
  FILE* out = fopen(argv[2], "wb");
  if (!out) return 2;
  fwrite(ctx.data(), sizeof(bf16), ctx.size(), out);
  fwrite(lse.data(), sizeof(float), lse.size(), out);
  fwrite(dqkv.data(), sizeof(bf16), dqkv.size(), out);
  return fclose(out) == 0 ? 0 : 2;
}
