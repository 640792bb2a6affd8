package org.mosaicbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;

/**
 * Activations sized for the micro-batches seen: rebuilding them larger changes no result, and a scoring model (one
 * layer buffer shared by every layer, no gradients) gives the training model's outputs bit for bit.
 */
class ActivationsOnDemandTest {
  private static final ModelConfig CONFIG = new ModelConfig(50, 32, 3, 2, 48, 2, 1e-12, 0.1, 0.0, -1, 0.3, 3, null, 0,
      64, 64, null);
  private static final MosaicBert.Capacity CAP = new MosaicBert.Capacity(400, 8, 300, 400);

  private static MosaicBert model(MosaicBert.Mode mode) {
    MosaicBert m = new MosaicBert(CONFIG, ParameterLayout.Heads.BOTH, new CpuBackend(2), CAP, mode);
    m.setAllParameters(ModelWeights.initial(m.layout(), m.config(), 5));
    return m;
  }

  private static UnpaddedBatch batch(int[] lengths, long seed) {
    return RandomBatches.of(lengths, CONFIG, new SplittableRandom(seed), 0.3, true);
  }

  @Test
  void growingTheActivationsChangesNoResult() {
    UnpaddedBatch small = batch(new int[] {5, 9}, 1);
    UnpaddedBatch large = batch(new int[] {70, 3, 290}, 2);
    try (MosaicBert fresh = model(MosaicBert.Mode.TRAINING); MosaicBert grown = model(MosaicBert.Mode.TRAINING)) {
      fresh.forward(small, MosaicBert.Objective.CLASSIFICATION, null);
      float[] want = fresh.classifierLogits();
      grown.forward(small, MosaicBert.Objective.CLASSIFICATION, null);
      grown.forward(large, MosaicBert.Objective.CLASSIFICATION, null); // past a tile of attention, and larger
      float[] largeLogits = grown.classifierLogits();
      grown.forward(small, MosaicBert.Objective.CLASSIFICATION, null);
      assertArrayEquals(want, grown.classifierLogits());
      fresh.forward(large, MosaicBert.Objective.CLASSIFICATION, null);
      assertArrayEquals(fresh.classifierLogits(), largeLogits);
    }
  }

  @Test
  void aScoringModelGivesTheTrainingModelsOutputsBitForBit() {
    UnpaddedBatch b = batch(new int[] {17, 1, 260, 40}, 3);
    try (MosaicBert training = model(MosaicBert.Mode.TRAINING);
        MosaicBert scoring = model(MosaicBert.Mode.INFERENCE)) {
      training.forward(b, MosaicBert.Objective.CLASSIFICATION, null);
      scoring.forward(b, MosaicBert.Objective.CLASSIFICATION, null);
      assertArrayEquals(training.classifierLogits(), scoring.classifierLogits());
      assertArrayEquals(training.pooledOutput(), scoring.pooledOutput());
      training.forward(b, MosaicBert.Objective.ENCODE, null);
      scoring.forward(b, MosaicBert.Objective.ENCODE, null);
      assertArrayEquals(training.lastHiddenState(), scoring.lastHiddenState());
      assertThrows(IllegalStateException.class, () -> scoring.backward(1));
    }
  }
}
