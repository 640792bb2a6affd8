package org.mosaicbert.tokenizer;

import java.util.Arrays;

/** An immutable set of code points, stored as sorted inclusive ranges {@code [first, last]}. */
final class CodePointSet {
  private final int[] firsts;
  private final int[] lasts;

  /** @param ranges pairs of inclusive bounds, sorted, not overlapping: {@code first0, last0, first1, last1, ...} */
  static CodePointSet ofRanges(int... ranges) {
    return new CodePointSet(ranges);
  }

  private CodePointSet(int[] ranges) {
    if (ranges.length % 2 != 0) {
      throw new IllegalArgumentException("ranges come in pairs, got " + ranges.length + " bounds");
    }
    firsts = new int[ranges.length / 2];
    lasts = new int[ranges.length / 2];
    for (int i = 0; i < firsts.length; i++) {
      firsts[i] = ranges[2 * i];
      lasts[i] = ranges[2 * i + 1];
      if (lasts[i] < firsts[i] || (i > 0 && firsts[i] <= lasts[i - 1])) {
        throw new IllegalArgumentException("range " + i + " is empty, unsorted or overlapping");
      }
    }
  }

  boolean contains(int cp) {
    int i = Arrays.binarySearch(firsts, cp);
    if (i >= 0) {
      return true;
    }
    int before = -i - 2;
    return before >= 0 && cp <= lasts[before];
  }
}
