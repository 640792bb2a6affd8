package org.mosaicbert.ml;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.Encoding;
import org.mosaicbert.tokenizer.TokenizerSpec;
import org.mosaicbert.train.Sample;

/**
 * The sequences an input row is scored as: its text tokenized with the model's vocabulary and casing (a pair cut
 * longest-first to maxSeqLen), or its token ids, checked against the vocabulary. With {@code windowStride} 0 a text
 * is cut at maxSeqLen and ids are taken whole; with a stride, a single text or ids row longer than maxSeqLen becomes
 * its overlapping {@link Windows}.
 */
final class RowSequences {
  private final int idsIndex;
  private final int textIndex;
  private final int pairIndex;
  private final int maxSeqLen;
  private final int windowStride;
  private final int vocabSize;
  private final BertWordPieceTokenizer tokenizer;

  /**
   * @param idsIndex the token ids column, used when {@code textIndex} is negative
   * @param textIndex the text column, or -1
   * @param pairIndex the second text column of a pair, or -1
   */
  RowSequences(ModelFolder model, int idsIndex, int textIndex, int pairIndex, int maxSeqLen, int windowStride) {
    this.idsIndex = idsIndex;
    this.textIndex = textIndex;
    this.pairIndex = pairIndex;
    this.maxSeqLen = maxSeqLen;
    this.windowStride = windowStride;
    this.vocabSize = model.config().vocabSize();
    this.tokenizer = textIndex < 0 ? null : TokenizerSpec.bert(model.vocab(), model.normalizer()).build();
  }

  /** Whether rows are read as text (else as token ids). */
  boolean readsText() {
    return tokenizer != null;
  }

  /**
   * The row's sequences, numbered from {@code firstId} on: one (its text cut at maxSeqLen, or its ids), its windows,
   * or none when it has nothing to score: null or empty ids, or a text that gives no token (null, empty, or only
   * whitespace and characters the tokenizer drops). For a pair, the first text decides.
   */
  List<Sample> of(Row row, int firstId) {
    if (tokenizer != null) {
      if (row.isNullAt(textIndex)) {
        return List.of();
      }
      String text = row.getString(textIndex);
      if (pairIndex >= 0) {
        if (tokenizer.tokenize(text, 1).length == 0) {
          return List.of();
        }
        String pair = row.isNullAt(pairIndex) ? "" : row.getString(pairIndex);
        Encoding e = tokenizer.encode(text, pair, maxSeqLen);
        return List.of(new Sample(firstId, e.ids(), e.typeIds(), 0f));
      }
      int[] ids = tokenizer.encode(text, windowStride > 0 ? Integer.MAX_VALUE : maxSeqLen);
      if (ids.length == 2) { // [CLS] [SEP]: the text has no token
        return List.of();
      }
      return numbered(windowStride > 0 ? Windows.of(ids, maxSeqLen, windowStride) : List.of(ids), firstId);
    }
    if (row.isNullAt(idsIndex) || row.getList(idsIndex).isEmpty()) {
      return List.of();
    }
    List<Integer> list = row.getList(idsIndex);
    int[] ids = new int[list.size()];
    for (int t = 0; t < ids.length; t++) {
      Integer id = list.get(t);
      if (id == null || id < 0 || id >= vocabSize) {
        throw new IllegalArgumentException("input_ids row " + row + ": token id " + id + " at position " + t
            + " is outside the model's vocabulary of " + vocabSize + " (inputIdsCol; were the ids made with this "
            + "model's vocab.txt?)");
      }
      ids[t] = id;
    }
    return numbered(windowStride > 0 ? Windows.of(ids, maxSeqLen, windowStride) : List.of(ids), firstId);
  }

  private static List<Sample> numbered(List<int[]> sequences, int firstId) {
    List<Sample> out = new ArrayList<>(sequences.size());
    for (int[] ids : sequences) {
      out.add(new Sample(firstId + out.size(), ids, null, 0f));
    }
    return out;
  }
}
