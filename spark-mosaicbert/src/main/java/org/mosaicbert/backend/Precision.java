package org.mosaicbert.backend;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The arithmetic of the encoder's linear layers when a model scores. Training always runs in {@link #FP32} on the CPU.
 * The embeddings, LayerNorms, attention, GeGLU and the heads keep float32 whatever the precision.
 */
public enum Precision {
  /** float32 operands and sums: what training computes, and the default. */
  FP32,
  /**
   * Operands rounded to bfloat16 (8 bits of mantissa), products summed in float32: the arithmetic of a bf16 GEMM. On a
   * CPU without bf16 instructions it runs at float32's speed: it shows what bf16 costs in accuracy.
   */
  BF16,
  /**
   * int8 weights with a scale per output channel, activations quantized per row to 7 bits (an unsigned byte in
   * [0, 127] with a scale and a zero point), sums in int32: dynamic quantization as PyTorch's on x86 does it.
   */
  INT8;

  /** How params, flags and files write it: fp32, bf16, int8. */
  public String value() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Every precision as params and flags write it. */
  public static List<String> valueNames() {
    return Arrays.stream(values()).map(Precision::value).toList();
  }
}
