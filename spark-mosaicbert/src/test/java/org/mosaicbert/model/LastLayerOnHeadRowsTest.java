package org.mosaicbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;

/**
 * Training with the last layer on the head's rows alone (the masked rows, or each sequence's first row) computes the
 * whole pass's loss and gradients, dropout included, up to float32 rounding.
 */
class LastLayerOnHeadRowsTest {
  private static final ModelConfig CONFIG = new ModelConfig(300, 64, 3, 4, 96, 2, 1e-12, 0.1, 0.0, -1, 0.05, 3, null,
      0, 64, 64, null);

  /** A feed-forward narrower than the hidden size, with nearly every row a head row: the scratch still fits. */
  private static final ModelConfig NARROW_MLP = new ModelConfig(300, 64, 2, 4, 16, 2, 1e-12, 0.1, 0.0, -1, 0.05, 3,
      null, 0, 64, 64, null);

  private static MosaicBert model(ModelConfig config, boolean headRows) {
    MosaicBert m = new MosaicBert(config, ParameterLayout.Heads.BOTH, new CpuBackend(2),
        new MosaicBert.Capacity(400, 8, 300, 400));
    m.setAllParameters(ModelWeights.initial(m.layout(), m.config(), 5));
    m.setLastLayerOnHeadRows(headRows);
    return m;
  }

  @Test
  void trainingOnTheHeadRowsGivesTheWholePassesLossAndGradients() {
    trainsAsTheWholePass(CONFIG, RandomBatches.of(new int[] {17, 1, 200, 40, 64}, CONFIG, new SplittableRandom(8), 0.3,
        true));
  }

  @Test
  void aFeedForwardNarrowerThanTheHiddenSizeWithNearlyEveryRowAHeadRow() {
    trainsAsTheWholePass(NARROW_MLP, RandomBatches.of(new int[] {1, 2, 1, 3, 1, 1}, NARROW_MLP,
        new SplittableRandom(4), 0.9, true));
  }

  private static void trainsAsTheWholePass(ModelConfig config, UnpaddedBatch batch) {
    MosaicBert.Randomness randomness = new MosaicBert.Randomness(11, 3);
    for (MosaicBert.Objective objective : new MosaicBert.Objective[] {MosaicBert.Objective.MLM,
        MosaicBert.Objective.CLASSIFICATION}) {
      try (MosaicBert whole = model(config, false); MosaicBert headRows = model(config, true)) {
        MosaicBert.Loss expected = whole.forward(batch, objective, randomness);
        MosaicBert.Loss got = headRows.forward(batch, objective, randomness);
        assertEquals(expected.sum(), got.sum(), 1e-5 * Math.abs(expected.sum()), objective + " loss");
        assertThrows(IllegalStateException.class, headRows::lastHiddenState);
        whole.zeroGradients();
        headRows.zeroGradients();
        whole.backward(expected.count());
        headRows.backward(got.count());
        List<String> far = new ArrayList<>();
        int compared = 0;
        for (ParameterLayout.Tensor t : whole.layout().tensors()) {
          float[] e = whole.gradient(t.name());
          float[] g = headRows.gradient(t.name());
          double scale = 0;
          for (float v : e) {
            scale = Math.max(scale, Math.abs(v));
          }
          compared += scale > 0 ? 1 : 0;
          for (int i = 0; i < e.length; i++) {
            if (Math.abs(e[i] - g[i]) > 1e-4 * scale) {
              far.add(objective + " " + t.name() + "[" + i + "]: " + g[i] + " vs " + e[i] + " (largest " + scale + ")");
              break;
            }
          }
        }
        assertTrue(far.isEmpty(), String.join("\n", far));
        assertTrue(compared > 20, objective + ": only " + compared + " gradients are not zero");
      }
    }
  }
}
