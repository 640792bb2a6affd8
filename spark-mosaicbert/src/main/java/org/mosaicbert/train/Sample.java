package org.mosaicbert.train;

/**
 * One training sample: its id (the key of its randomness) and its token ids, {@code [CLS] ... [SEP]}; for
 * fine-tuning also its segment ids (null: all 0) and its label (class index or regression target; NaN for MLM).
 */
public record Sample(long sampleId, int[] inputIds, int[] tokenTypeIds, float label) implements java.io.Serializable {
  public Sample {
    if (tokenTypeIds != null && tokenTypeIds.length != inputIds.length) {
      throw new IllegalArgumentException("sample " + sampleId + ": " + tokenTypeIds.length + " segment ids for "
          + inputIds.length + " tokens");
    }
  }

  /** An unlabelled sample of one segment (pretraining). */
  public Sample(long sampleId, int[] inputIds) {
    this(sampleId, inputIds, null, Float.NaN);
  }
}
