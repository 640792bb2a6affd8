package org.mosaicbert.model;

/**
 * A micro-batch in the unpadded layout: the real tokens of all sequences back to back, {@code [nnz]}, with
 * {@code cuSeqlens[b]} .. {@code cuSeqlens[b+1]} the rows of sequence b.
 *
 * @param sampleIds per sequence: the key of its randomness (dropout), never its position in the batch
 * @param positions per token: its position inside its sequence
 * @param maskedRows rows (into nnz) scored by the MLM head, ascending; empty for classification
 * @param mlmLabels the original token id of each masked row
 * @param classLabels per sequence: class index (classification) or target (regression); null for MLM
 */
public record UnpaddedBatch(int[] inputIds, int[] tokenTypeIds, int[] cuSeqlens, long[] sampleIds, int[] positions,
    int[] maskedRows, int[] mlmLabels, float[] classLabels) {

  public UnpaddedBatch {
    int nnz = inputIds.length;
    if (tokenTypeIds.length != nnz || positions.length != nnz) {
      throw new IllegalArgumentException("inputIds, tokenTypeIds and positions differ in length");
    }
    if (cuSeqlens.length < 1 || cuSeqlens[0] != 0 || cuSeqlens[cuSeqlens.length - 1] != nnz) {
      throw new IllegalArgumentException("cuSeqlens must run from 0 to nnz = " + nnz);
    }
    if (sampleIds.length != cuSeqlens.length - 1) {
      throw new IllegalArgumentException(sampleIds.length + " sample ids for " + (cuSeqlens.length - 1) + " sequences");
    }
    if (maskedRows.length != mlmLabels.length) {
      throw new IllegalArgumentException("maskedRows and mlmLabels differ in length");
    }
    if (classLabels != null && classLabels.length != sampleIds.length) {
      throw new IllegalArgumentException(classLabels.length + " class labels for " + sampleIds.length + " sequences");
    }
  }

  public int nnz() {
    return inputIds.length;
  }

  public int numSequences() {
    return cuSeqlens.length - 1;
  }

  public int maxSeqLen() {
    int max = 0;
    for (int b = 0; b + 1 < cuSeqlens.length; b++) {
      max = Math.max(max, cuSeqlens[b + 1] - cuSeqlens[b]);
    }
    return max;
  }

  /** The first row ([CLS]) of every sequence. */
  public int[] firstRows() {
    int[] rows = new int[numSequences()];
    System.arraycopy(cuSeqlens, 0, rows, 0, rows.length);
    return rows;
  }

  /**
   * Builds a batch from padded rows: ids [B][S] with attention masks (1 = real token, real tokens first).
   */
  public static UnpaddedBatch fromPadded(long[][] ids, long[][] mask, long[][] tokenTypes, long[] sampleIds,
      long[][] mlmLabels, float[] classLabels) {
    int batch = ids.length;
    int[] cu = new int[batch + 1];
    for (int b = 0; b < batch; b++) {
      int len = 0;
      for (long m : mask[b]) {
        len += m != 0 ? 1 : 0;
      }
      cu[b + 1] = cu[b] + len;
    }
    int nnz = cu[batch];
    int[] inputIds = new int[nnz];
    int[] types = new int[nnz];
    int[] positions = new int[nnz];
    java.util.List<Integer> masked = new java.util.ArrayList<>();
    java.util.List<Integer> labels = new java.util.ArrayList<>();
    for (int b = 0; b < batch; b++) {
      for (int s = 0; s < cu[b + 1] - cu[b]; s++) {
        int row = cu[b] + s;
        inputIds[row] = Math.toIntExact(ids[b][s]);
        types[row] = tokenTypes == null ? 0 : Math.toIntExact(tokenTypes[b][s]);
        positions[row] = s;
        if (mlmLabels != null && mlmLabels[b][s] > 0) { // labels > 0, as upstream: 0 ([PAD]) is never scored
          masked.add(row);
          labels.add(Math.toIntExact(mlmLabels[b][s]));
        }
      }
    }
    return new UnpaddedBatch(inputIds, types, cu, sampleIds, positions,
        masked.stream().mapToInt(Integer::intValue).toArray(), labels.stream().mapToInt(Integer::intValue).toArray(),
        classLabels);
  }
}
