// adamw.cu: Composer's DecoupledAdamW over flat float32 buffers, writing the bf16 compute copy of each weight.
//
// Matches CpuBackend.adamw (docs/model.md §6, pitfall 11: the weight decay is wd x schedule factor, not x lr):
//     m = beta1 m + (1 - beta1) g
//     v = beta2 v + (1 - beta2) g g
//     p = p (1 - decay) - step_size m / (sqrt(v) / sqrt_bias2 + eps)
// with step_size = lr / (1 - beta1^t) and sqrt_bias2 = sqrt(1 - beta2^t). The host computes those two exactly as
// CpuBackend does, in double from (lr, beta1, beta2, step), rounded to float, and passes them in; every operation
// here is the IEEE float operation Java performs, in Java's order, with no fused multiply-add (the __f*_rn
// intrinsics forbid the contraction nvcc would otherwise make). So from equal gradients the master weights, m and v
// come out bit-identical to the CPU backend's.
//
// Layouts: params, grads, m, v float [n] (the master weights, their gradients and the moments: one flat buffer each
// with ParameterLayout's offsets, or any slice of them); params_bf16 bf16 [n], the compute copy written from the
// updated master weight (NULL: none). n is a long long.
//
// Entry point:
//   adamw_update(params, params_bf16, grads, m, v, n, beta1, beta2, eps, decay, step_size, sqrt_bias2)
//       grid-stride over n: grid min(ceil(n / 256), 65535 or so), block 256, no shared memory.
//       One launch per group of tensors that share a decay (a decay flag per tensor is ParameterLayout's business).

#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256, 1)
adamw_update(float* params, bf16* params_bf16, const float* grads, float* m, float* v, long long n, float beta1,
             float beta2, float eps, float decay, float step_size, float sqrt_bias2) {
  const float one_minus_beta1 = __fsub_rn(1.0f, beta1);
  const float one_minus_beta2 = __fsub_rn(1.0f, beta2);
  const float keep = __fsub_rn(1.0f, decay);
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const float g = grads[i];
    // Java: beta1 * m + (1 - beta1) * g  and  beta2 * v + (1 - beta2) * g * g  (left to right: ((1 - b2) g) g)
    const float mi = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(one_minus_beta1, g));
    const float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(one_minus_beta2, g), g));
    m[i] = mi;
    v[i] = vi;
    // Java: p * keep - stepSize * mi / ((float) Math.sqrt(vi) / sqrtBias2 + eps); a float's square root through
    // double and back is the correctly rounded float square root, which __fsqrt_rn is.
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), sqrt_bias2), eps);
    const float p = __fsub_rn(__fmul_rn(params[i], keep), __fdiv_rn(__fmul_rn(step_size, mi), denom));
    params[i] = p;
    if (params_bf16) params_bf16[i] = float_to_bf16(p);
  }
}
