package org.mosaicbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.ActivationPlan.Region;
import org.mosaicbert.model.ActivationPlan.Tensor;

class ActivationPlanTest {
  /** Odd sizes everywhere, so that alignment padding is needed between most tensors. */
  private static final ModelConfig ODD = new ModelConfig(101, 96, 3, 3, 250, 2, 1e-12, 0.1, 0.0, -1, 0.02, 3, null, 0,
      512, 512, null);
  private static final MosaicBert.Capacity CAPACITY = new MosaicBert.Capacity(333, 7, 61, 45);

  @Test
  void everyTensorStartsAlignedInsideItsBufferAndOverlapsNoOther() {
    try (CpuBackend cpu = new CpuBackend(1)) {
      ActivationPlan plan = ActivationPlan.of(ODD, CAPACITY, cpu, MosaicBert.Mode.TRAINING);
      for (Region region : Region.values()) {
        List<Tensor> tensors = Arrays.stream(Tensor.values()).filter(t -> t.region == region)
            .sorted(Comparator.comparingLong(plan::offset)).toList();
        long end = 0;
        for (Tensor t : tensors) {
          assertEquals(0, plan.offset(t) % ActivationPlan.ALIGN, t + " is not 32-byte aligned");
          assertTrue(plan.offset(t) >= end, t + " overlaps the tensor before it");
          end = plan.offset(t) + plan.floats(t);
        }
        assertEquals(end, plan.floats(region), region + ": the buffer ends where its last tensor does");
      }
    }
  }

  @Test
  void eachLayerKeepsTheAttentionStateTheBackendAsksForTheLongestSequences() {
    try (CpuBackend cpu = new CpuBackend(1)) {
      ActivationPlan plan = ActivationPlan.of(ODD, CAPACITY, cpu, MosaicBert.Mode.TRAINING);
      // The CPU keeps each head's row max and 1/sum: 2·heads floats per token, 2·3·333 for 333 tokens.
      assertEquals(2L * 3 * 333, plan.floats(Tensor.ATTENTION_STATE));
      assertEquals(plan.floats(Region.EMBEDDINGS_AND_HEADS) + 3 * plan.floats(Region.LAYER)
          + plan.floats(Region.GRADIENT_SCRATCH), plan.totalFloats());
      assertTrue(plan.describe().startsWith("activations "), plan.describe());
    }
  }

  @Test
  void inferenceKeepsOneLayerBufferAndNoGradientScratch() {
    try (CpuBackend cpu = new CpuBackend(1)) {
      ActivationPlan plan = ActivationPlan.of(ODD, CAPACITY, cpu, MosaicBert.Mode.INFERENCE);
      assertEquals(plan.floats(Region.EMBEDDINGS_AND_HEADS) + plan.floats(Region.LAYER), plan.totalFloats());
    }
  }

  /**
   * One sequence of base's width at 512 to 8,192 tokens: the attention state, and so every layer and the whole plan,
   * grows by the same amount per token (linearly), where keeping P (heads x length² floats) would quadruple with each
   * doubling.
   */
  @Test
  void attentionMemoryGrowsLinearlyWithTheSequenceLength() {
    ModelConfig base = ModelConfig.preset("base", 30522);
    try (CpuBackend cpu = new CpuBackend(1)) {
      long[] lengths = {512, 1024, 2048, 4096, 8192};
      long[] state = new long[lengths.length];
      long[] total = new long[lengths.length];
      for (int i = 0; i < lengths.length; i++) {
        int len = (int) lengths[i];
        ActivationPlan plan = ActivationPlan.of(base, new MosaicBert.Capacity(len, 1, len, len * 3 / 10), cpu,
            MosaicBert.Mode.TRAINING);
        state[i] = plan.floats(Tensor.ATTENTION_STATE);
        total[i] = plan.totalFloats();
        assertEquals(2L * base.numHeads() * len, state[i], "attention state at " + len + " tokens");
      }
      for (int i = 1; i < lengths.length; i++) {
        assertEquals(2 * state[i - 1], state[i], "the state doubles with the length");
        // total(L) = a + b·L: each doubling adds the length times the same b.
        double perToken = (double) (total[i] - total[i - 1]) / (lengths[i] - lengths[i - 1]);
        double firstPerToken = (double) (total[1] - total[0]) / (lengths[1] - lengths[0]);
        assertEquals(firstPerToken, perToken, firstPerToken * 1e-3, "activation floats per token at " + lengths[i]);
        long padded = (long) base.numHeads() * lengths[i] * lengths[i];
        assertTrue(state[i] * 100 < padded, "at " + lengths[i] + " tokens the state is under 1% of P's "
            + padded + " floats");
      }
    }
  }
}
