package org.mosaicbert.train;

import java.util.ArrayList;
import java.util.List;
import org.mosaicbert.model.UnpaddedBatch;

/** Builds unpadded micro-batches from samples. */
public final class Batches {
  private Batches() {}

  /** An MLM micro-batch: each sample masked by its own key (seed, epoch, sample id). */
  public static UnpaddedBatch mlm(List<Sample> samples, MlmMasking masking, long epoch) {
    int nnz = samples.stream().mapToInt(s -> s.inputIds().length).sum();
    int[] ids = new int[nnz];
    int[] types = new int[nnz];
    int[] positions = new int[nnz];
    int[] cu = new int[samples.size() + 1];
    long[] sampleIds = new long[samples.size()];
    List<Integer> maskedRows = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    for (int b = 0; b < samples.size(); b++) {
      Sample s = samples.get(b);
      MlmMasking.Masked masked = masking.apply(s.inputIds(), epoch, s.sampleId());
      int start = cu[b];
      System.arraycopy(masked.inputIds(), 0, ids, start, s.inputIds().length);
      if (s.tokenTypeIds() != null) {
        System.arraycopy(s.tokenTypeIds(), 0, types, start, s.tokenTypeIds().length);
      }
      for (int p = 0; p < s.inputIds().length; p++) {
        positions[start + p] = p;
        if (masked.labels()[p] > 0) {
          maskedRows.add(start + p);
          labels.add(masked.labels()[p]);
        }
      }
      cu[b + 1] = start + s.inputIds().length;
      sampleIds[b] = s.sampleId();
    }
    return new UnpaddedBatch(ids, types, cu, sampleIds, positions,
        maskedRows.stream().mapToInt(Integer::intValue).toArray(), labels.stream().mapToInt(Integer::intValue).toArray(),
        null);
  }

  /** A classification or regression micro-batch: the samples as they are, with their segment ids and labels. */
  public static UnpaddedBatch labelled(List<Sample> samples) {
    int nnz = samples.stream().mapToInt(s -> s.inputIds().length).sum();
    int[] ids = new int[nnz];
    int[] types = new int[nnz];
    int[] positions = new int[nnz];
    int[] cu = new int[samples.size() + 1];
    long[] sampleIds = new long[samples.size()];
    float[] labels = new float[samples.size()];
    for (int b = 0; b < samples.size(); b++) {
      Sample s = samples.get(b);
      if (Float.isNaN(s.label())) {
        throw new IllegalArgumentException("sample " + s.sampleId() + " has no label");
      }
      int start = cu[b];
      System.arraycopy(s.inputIds(), 0, ids, start, s.inputIds().length);
      if (s.tokenTypeIds() != null) {
        System.arraycopy(s.tokenTypeIds(), 0, types, start, s.tokenTypeIds().length);
      }
      for (int p = 0; p < s.inputIds().length; p++) {
        positions[start + p] = p;
      }
      cu[b + 1] = start + s.inputIds().length;
      sampleIds[b] = s.sampleId();
      labels[b] = s.label();
    }
    return new UnpaddedBatch(ids, types, cu, sampleIds, positions, new int[0], new int[0], labels);
  }
}
