package org.mosaicbert.tokenizer;

import java.util.BitSet;

/** An immutable set of code points, given as sorted inclusive ranges, looked up in one bit test. */
final class CodePointSet {
  private final BitSet bits = new BitSet();

  /** @param ranges pairs of inclusive bounds, sorted, not overlapping: {@code first0, last0, first1, last1, ...} */
  static CodePointSet ofRanges(int... ranges) {
    return new CodePointSet(ranges);
  }

  private CodePointSet(int[] ranges) {
    if (ranges.length % 2 != 0) {
      throw new IllegalArgumentException("ranges come in pairs, got " + ranges.length + " bounds");
    }
    for (int i = 0; i < ranges.length; i += 2) {
      if (ranges[i + 1] < ranges[i] || (i > 0 && ranges[i] <= ranges[i - 1])) {
        throw new IllegalArgumentException("range " + i / 2 + " is empty, unsorted or overlapping");
      }
      bits.set(ranges[i], ranges[i + 1] + 1);
    }
  }

  boolean contains(int cp) {
    return bits.get(cp);
  }
}
