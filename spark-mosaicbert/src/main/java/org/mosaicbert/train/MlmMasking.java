package org.mosaicbert.train;

import java.util.Arrays;
import org.mosaicbert.random.Hashing;

/**
 * Dynamic MLM masking as Hugging Face's {@code DataCollatorForLanguageModeling} does it (MosaicBERT: probability
 * 0.3): each non-special token is chosen with the probability; a chosen token becomes {@code [MASK]} (80%), a random
 * token of the vocabulary (10%) or stays (10%), and its label is the original id.
 *
 * <p>Every decision is a hash of (seed, optimizer step, sample id, position): the masks of a sample do not depend on
 * which worker or micro-batch it lands in, and differ at each step that sees it.
 */
public final class MlmMasking implements java.io.Serializable {
  /**
   * The label of a position that is not scored (Hugging Face's ignore index). Every other label is a token id, 0
   * included: whether an id can be chosen is decided by {@code specialIds} alone.
   */
  public static final int NO_LABEL = -100;

  private final double probability;
  private final int maskId;
  private final int vocabSize;
  private final int[] specialIds;
  private final long seed;

  private MlmMasking(double probability, int maskId, int vocabSize, int[] specialIds, long seed) {
    if (probability <= 0 || probability >= 1) {
      throw new IllegalArgumentException("maskProbability must be in (0, 1), got " + probability);
    }
    if (maskId < 0 || maskId >= vocabSize) {
      throw new IllegalArgumentException("the [MASK] id " + maskId + " is not in a vocabulary of " + vocabSize);
    }
    this.probability = probability;
    this.maskId = maskId;
    this.vocabSize = vocabSize;
    this.specialIds = specialIds.clone();
    Arrays.sort(this.specialIds);
    this.seed = seed;
  }

  /**
   * The tokens of a vocabulary that masking needs.
   *
   * @param vocabSize the ids a random replacement is drawn from
   * @param specialIds the ids never masked ([CLS], [SEP], [PAD] ...)
   */
  public record Tokens(int maskId, int vocabSize, int[] specialIds) implements java.io.Serializable {}

  /** The masking of a run: its probability and seed read by name from its settings. */
  public static MlmMasking of(SettingValues settings, Tokens tokens) {
    return new MlmMasking(settings.get(TrainingSettings.MASK_PROBABILITY), tokens.maskId(), tokens.vocabSize(),
        tokens.specialIds(), settings.get(TrainingSettings.SEED));
  }

  public double probability() {
    return probability;
  }

  /** The masked ids and the labels (original id where chosen, {@link #NO_LABEL} elsewhere) of one sample. */
  public record Masked(int[] inputIds, int[] labels) {}

  public Masked apply(int[] ids, long step, long sampleId) {
    int[] out = ids.clone();
    int[] labels = new int[ids.length];
    Arrays.fill(labels, NO_LABEL);
    long key = Hashing.key(seed, step, sampleId, 0x4D4C4DL);
    for (int p = 0; p < ids.length; p++) {
      if (Arrays.binarySearch(specialIds, ids[p]) >= 0) {
        continue;
      }
      if (Hashing.uniform(key, 3L * p) >= probability) {
        continue;
      }
      labels[p] = ids[p];
      float how = Hashing.uniform(key, 3L * p + 1);
      if (how < 0.8f) {
        out[p] = maskId;
      } else if (how < 0.9f) {
        out[p] = (int) (Hashing.uniform(key, 3L * p + 2) * vocabSize);
      }
    }
    return new Masked(out, labels);
  }
}
