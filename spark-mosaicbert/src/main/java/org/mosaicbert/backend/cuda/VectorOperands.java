package org.mosaicbert.backend.cuda;

import java.util.Map;

/**
 * The pointer arguments that each kernel reads or writes 16 bytes at a time (uint4, cp.async), by position: a
 * misaligned one faults on the GPU, far from its cause, so {@link CudaBackend} refuses it by name before launching.
 */
final class VectorOperands {
  private static final Map<String, int[]> BY_KERNEL = Map.ofEntries(
      Map.entry("geglu_forward", new int[] {0, 1}),
      Map.entry("geglu_backward", new int[] {0, 1, 2}),
      Map.entry("layernorm_forward", new int[] {0, 1, 4, 5, 6, 7}),
      Map.entry("layernorm_backward", new int[] {0, 1, 3, 4, 5}),
      Map.entry("embedding_forward", new int[] {0, 3, 4}),
      Map.entry("embedding_backward_segments", new int[] {2}),
      Map.entry("attention_forward", new int[] {0, 2}),
      Map.entry("attention_backward_dot", new int[] {1, 2}),
      Map.entry("attention_backward_dkdv", new int[] {0, 1, 2}),
      Map.entry("attention_backward_dq", new int[] {0, 1, 2}));

  private VectorOperands() {}

  /** Throws when one of kernel {@code name}'s 16-byte operands among {@code args} is not 16-byte aligned. */
  static void check(String name, Object[] args) {
    for (int i : BY_KERNEL.getOrDefault(name, new int[0])) {
      long address = ((Device.Ptr) args[i]).address();
      if (address % 16 != 0) {
        throw new IllegalArgumentException("CudaBackend: " + name + "'s argument " + i + " (address 0x"
            + Long.toHexString(address) + ") is not 16-byte aligned, and the kernel moves 16 bytes at a time; a "
            + "view into a bf16 buffer must start at a multiple of 8 elements");
      }
    }
  }
}
