package org.mosaicbert.ml;

import java.util.ArrayList;
import java.util.List;

/**
 * Overlapping windows over a sequence too long to score whole: {@code [CLS] ... [SEP]} ids (the first and last ids
 * are taken as the special tokens, whatever they are) become windows of at most {@code windowLength} ids, each the
 * first id, {@code windowLength - 2} content ids and the last id, the content of window k starting {@code k·stride}
 * content ids in; the last window ends where the content does, so every content id is in at least one window.
 */
final class Windows {
  private Windows() {}

  /** The windows of {@code ids}: {@code ids} itself when it fits in one. */
  static List<int[]> of(int[] ids, int windowLength, int stride) {
    check(windowLength, stride);
    if (ids.length <= windowLength) {
      return List.of(ids);
    }
    int content = ids.length - 2;
    int span = windowLength - 2;
    List<int[]> out = new ArrayList<>();
    for (int start = 0; ; start += stride) {
      int end = Math.min(start + span, content);
      int[] w = new int[end - start + 2];
      w[0] = ids[0];
      System.arraycopy(ids, 1 + start, w, 1, end - start);
      w[w.length - 1] = ids[ids.length - 1];
      out.add(w);
      if (end == content) {
        return out;
      }
    }
  }

  /** The stride must leave no content id out: at least 1, at most a window's content (windowLength - 2). */
  static void check(int windowLength, int stride) {
    if (windowLength < 3 || stride < 1 || stride > windowLength - 2) {
      throw new IllegalArgumentException("windowStride " + stride + " must be in 1.." + (windowLength - 2) + " for "
          + "windows of maxSeqLen " + windowLength + " tokens ([CLS] and [SEP] included), or 0 to cut long texts at "
          + "maxSeqLen");
    }
  }
}
