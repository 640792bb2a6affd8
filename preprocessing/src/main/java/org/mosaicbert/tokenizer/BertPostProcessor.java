package org.mosaicbert.tokenizer;

/**
 * Adds {@code [CLS] A [SEP]} or {@code [CLS] A [SEP] B [SEP]} with segment ids, after truncating to a maximum
 * length that counts those special tokens, the way Hugging Face truncates ({@code LongestFirst} for pairs).
 */
record BertPostProcessor(int clsId, int sepId) {
  static final int SINGLE_SPECIAL_TOKENS = 2;
  static final int PAIR_SPECIAL_TOKENS = 3;

  /** How many content tokens a single text keeps under {@code maxLength}. */
  static int singleBudget(int maxLength) {
    if (maxLength < SINGLE_SPECIAL_TOKENS) {
      throw new IllegalArgumentException("max length " + maxLength + " leaves no room for [CLS] and [SEP]: use at least "
          + SINGLE_SPECIAL_TOKENS);
    }
    return maxLength - SINGLE_SPECIAL_TOKENS;
  }

  static int pairBudget(int maxLength) {
    if (maxLength < PAIR_SPECIAL_TOKENS) {
      throw new IllegalArgumentException("max length " + maxLength + " leaves no room for [CLS] A [SEP] B [SEP]: use at "
          + "least " + PAIR_SPECIAL_TOKENS);
    }
    return maxLength - PAIR_SPECIAL_TOKENS;
  }

  /**
   * How many tokens of each text a pair keeps: the shorter text is kept whole when it fits in half the budget and
   * the longer one gets the rest; otherwise each gets half, the longer one the odd token (ties: the second text).
   *
   * @return {keepA, keepB}
   */
  static int[] pairKeep(int lengthA, int lengthB, int budget) {
    if (lengthA + lengthB <= budget) {
      return new int[] {lengthA, lengthB};
    }
    boolean swap = lengthA > lengthB;
    int n1 = swap ? lengthB : lengthA;
    int n2;
    if (n1 > budget) {
      n2 = n1;
    } else {
      n2 = Math.max(n1, budget - n1);
    }
    if (n1 + n2 > budget) {
      n1 = budget / 2;
      n2 = n1 + budget % 2;
    }
    return swap ? new int[] {n2, n1} : new int[] {n1, n2};
  }

  int[] single(IntList tokens, int keep) {
    int n = Math.min(keep, tokens.size());
    int[] ids = new int[n + SINGLE_SPECIAL_TOKENS];
    ids[0] = clsId;
    System.arraycopy(tokens.array(), 0, ids, 1, n);
    ids[n + 1] = sepId;
    return ids;
  }

  Encoding pair(IntList a, int keepA, IntList b, int keepB) {
    int na = Math.min(keepA, a.size());
    int nb = Math.min(keepB, b.size());
    int[] ids = new int[na + nb + PAIR_SPECIAL_TOKENS];
    int[] typeIds = new int[ids.length];
    ids[0] = clsId;
    System.arraycopy(a.array(), 0, ids, 1, na);
    ids[na + 1] = sepId;
    System.arraycopy(b.array(), 0, ids, na + 2, nb);
    ids[ids.length - 1] = sepId;
    java.util.Arrays.fill(typeIds, na + 2, ids.length, 1);
    return new Encoding(ids, typeIds);
  }
}
