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
      ActivationPlan plan = ActivationPlan.of(ODD, CAPACITY, cpu);
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
      ActivationPlan plan = ActivationPlan.of(ODD, CAPACITY, cpu);
      // The CPU keeps each head's row max and 1/sum: 2·heads floats per token, 2·3·333 for 333 tokens.
      assertEquals(2L * 3 * 333, plan.floats(Tensor.ATTENTION_STATE));
      assertEquals(plan.floats(Region.EMBEDDINGS_AND_HEADS) + 3 * plan.floats(Region.LAYER)
          + plan.floats(Region.GRADIENT_SCRATCH), plan.totalFloats());
      assertTrue(plan.describe().startsWith("activations "), plan.describe());
    }
  }
}
