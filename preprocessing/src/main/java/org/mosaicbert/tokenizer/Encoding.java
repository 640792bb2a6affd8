package org.mosaicbert.tokenizer;

/** Token ids and their segment ids (0 for the first text, its {@code [CLS]} and {@code [SEP]}; 1 for the second). */
public record Encoding(int[] ids, int[] typeIds) {
  public Encoding {
    if (ids.length != typeIds.length) {
      throw new IllegalArgumentException(ids.length + " ids but " + typeIds.length + " type ids");
    }
  }

  public int length() {
    return ids.length;
  }
}
