package org.mosaicbert.train;

import java.util.ArrayList;
import java.util.List;
import org.mosaicbert.model.UnpaddedBatch;

/** Builds unpadded micro-batches from samples. */
public final class Batches {
  private Batches() {}

  /** Samples laid back to back: token ids (as given per sample), segment ids, positions, sequence bounds. */
  private record Packed(int[] ids, int[] types, int[] positions, int[] cu, long[] sampleIds) {}

  private static Packed pack(List<Sample> samples, List<int[]> idsPerSample) {
    int nnz = samples.stream().mapToInt(s -> s.inputIds().length).sum();
    Packed out = new Packed(new int[nnz], new int[nnz], new int[nnz], new int[samples.size() + 1],
        new long[samples.size()]);
    for (int b = 0; b < samples.size(); b++) {
      Sample s = samples.get(b);
      int start = out.cu()[b];
      int length = s.inputIds().length;
      System.arraycopy(idsPerSample.get(b), 0, out.ids(), start, length);
      if (s.tokenTypeIds() != null) {
        System.arraycopy(s.tokenTypeIds(), 0, out.types(), start, length);
      }
      for (int p = 0; p < length; p++) {
        out.positions()[start + p] = p;
      }
      out.cu()[b + 1] = start + length;
      out.sampleIds()[b] = s.sampleId();
    }
    return out;
  }

  /** An MLM micro-batch of optimizer step {@code step}: each sample masked by its own key (seed, step, sample id). */
  public static UnpaddedBatch mlm(List<Sample> samples, MlmMasking masking, long step) {
    List<MlmMasking.Masked> masked = new ArrayList<>(samples.size());
    for (Sample s : samples) {
      masked.add(masking.apply(s.inputIds(), step, s.sampleId()));
    }
    Packed packed = pack(samples, masked.stream().map(MlmMasking.Masked::inputIds).toList());
    List<Integer> maskedRows = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    for (int b = 0; b < samples.size(); b++) {
      int[] sampleLabels = masked.get(b).labels();
      for (int p = 0; p < sampleLabels.length; p++) {
        if (sampleLabels[p] != MlmMasking.NO_LABEL) {
          maskedRows.add(packed.cu()[b] + p);
          labels.add(sampleLabels[p]);
        }
      }
    }
    return new UnpaddedBatch(packed.ids(), packed.types(), packed.cu(), packed.sampleIds(), packed.positions(),
        maskedRows.stream().mapToInt(Integer::intValue).toArray(), labels.stream().mapToInt(Integer::intValue).toArray(),
        null);
  }

  /** A classification or regression micro-batch: the samples as they are, with their segment ids and labels. */
  public static UnpaddedBatch labelled(List<Sample> samples) {
    float[] labels = new float[samples.size()];
    for (int b = 0; b < samples.size(); b++) {
      labels[b] = samples.get(b).label();
      if (Float.isNaN(labels[b])) {
        throw new IllegalArgumentException("sample " + samples.get(b).sampleId() + " has no label");
      }
    }
    Packed packed = pack(samples, samples.stream().map(Sample::inputIds).toList());
    return new UnpaddedBatch(packed.ids(), packed.types(), packed.cu(), packed.sampleIds(), packed.positions(),
        new int[0], new int[0], labels);
  }
}
