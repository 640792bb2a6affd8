package org.mosaicbert.backend;

import java.util.function.IntPredicate;
import java.util.function.IntToDoubleFunction;
import java.util.function.Supplier;

/**
 * What {@link Backend#crossEntropy} measured: the loss summed over its rows, and how many rows had the label as their
 * first largest logit. A backend may hand it over before it is known (a GPU sums on the device while it goes on
 * computing): the value is read when first asked for, so a trainer that asks once per step waits once per step.
 */
public final class LossSum {
  private Supplier<double[]> pending;
  private double sum;
  private long correct;

  private LossSum(Supplier<double[]> pending, double sum, long correct) {
    this.pending = pending;
    this.sum = sum;
    this.correct = correct;
  }

  public static LossSum of(double sum, long correct) {
    return new LossSum(null, sum, correct);
  }

  /** A sum read later: {@code read} returns {sum, correct}. */
  public static LossSum deferred(Supplier<double[]> read) {
    return new LossSum(read, 0, 0);
  }

  /**
   * Sums per-row losses (in double) and hits in row order: the CPU backend's summation (a GPU sums on the device, in
   * its own fixed order).
   */
  public static LossSum ofRows(int rows, IntToDoubleFunction loss, IntPredicate hit) {
    double sum = 0;
    long correct = 0;
    for (int r = 0; r < rows; r++) {
      sum += loss.applyAsDouble(r);
      correct += hit.test(r) ? 1 : 0;
    }
    return of(sum, correct);
  }

  private void resolve() {
    if (pending != null) {
      double[] value = pending.get();
      sum = value[0];
      correct = Math.round(value[1]);
      pending = null;
    }
  }

  public double sum() {
    resolve();
    return sum;
  }

  public long correct() {
    resolve();
    return correct;
  }
}
