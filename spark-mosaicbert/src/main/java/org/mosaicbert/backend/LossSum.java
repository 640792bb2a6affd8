package org.mosaicbert.backend;

import java.util.function.IntPredicate;
import java.util.function.IntToDoubleFunction;

/**
 * What {@link Backend#crossEntropy} measured: the loss summed over its rows, and how many rows had the label as their
 * first largest logit.
 */
public record LossSum(double sum, long correct) {
  /**
   * Sums per-row losses (in double) and hits in row order: the one summation order of every backend, so that equal
   * per-row values give equal bits whatever computed them.
   */
  public static LossSum ofRows(int rows, IntToDoubleFunction loss, IntPredicate hit) {
    double sum = 0;
    long correct = 0;
    for (int r = 0; r < rows; r++) {
      sum += loss.applyAsDouble(r);
      correct += hit.test(r) ? 1 : 0;
    }
    return new LossSum(sum, correct);
  }
}
