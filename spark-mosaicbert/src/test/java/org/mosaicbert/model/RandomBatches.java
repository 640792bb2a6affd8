package org.mosaicbert.model;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.mosaicbert.config.ModelConfig;

/** Random unpadded batches for tests that compare gradients or backends on made-up inputs. */
public final class RandomBatches {
  private RandomBatches() {}

  /**
   * Sequences of the given lengths with random ids, two segments each, and masked rows for MLM (each row with
   * probability {@code maskShare}, and always the last of a sequence); with {@code classification}, a class label
   * (or a regression target in [0, 5)) per sequence.
   */
  public static UnpaddedBatch of(int[] lengths, ModelConfig c, SplittableRandom rnd, double maskShare,
      boolean classification) {
    int nnz = java.util.Arrays.stream(lengths).sum();
    int[] ids = new int[nnz];
    int[] types = new int[nnz];
    int[] positions = new int[nnz];
    int[] cu = new int[lengths.length + 1];
    long[] sampleIds = new long[lengths.length];
    List<Integer> masked = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    for (int b = 0; b < lengths.length; b++) {
      cu[b + 1] = cu[b] + lengths[b];
      sampleIds[b] = 1000 + b;
      for (int p = 0; p < lengths[b]; p++) {
        int r = cu[b] + p;
        ids[r] = 1 + rnd.nextInt(c.vocabSize() - 1);
        types[r] = p * 2 >= lengths[b] ? 1 : 0;
        positions[r] = p;
        if (rnd.nextDouble() < maskShare || p == lengths[b] - 1) {
          masked.add(r);
          labels.add(1 + rnd.nextInt(c.vocabSize() - 1));
        }
      }
    }
    float[] classLabels = null;
    if (classification) {
      classLabels = new float[lengths.length];
      for (int b = 0; b < lengths.length; b++) {
        classLabels[b] = c.isRegression() ? (float) (rnd.nextDouble() * 5) : rnd.nextInt(c.numLabels());
      }
    }
    return new UnpaddedBatch(ids, types, cu, sampleIds, positions, masked.stream().mapToInt(i -> i).toArray(),
        labels.stream().mapToInt(i -> i).toArray(), classLabels);
  }
}
