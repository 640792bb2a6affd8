package org.mosaicbert.train;

/**
 * Composer's {@code LinearWithWarmupScheduler}: the learning-rate factor rises linearly from 0 to 1 over the warmup
 * steps, then falls linearly to {@code alphaF} at the last step. Evaluated, as Composer does, at the number of steps
 * already completed (the first update runs at factor 0 when there is warmup).
 */
public record LinearWithWarmup(long warmupSteps, long totalSteps, double alphaF) implements java.io.Serializable {
  public LinearWithWarmup {
    if (totalSteps < 1 || warmupSteps < 0 || warmupSteps > totalSteps) {
      throw new IllegalArgumentException("schedule needs 0 <= warmup (" + warmupSteps + ") <= total steps ("
          + totalSteps + ") and total >= 1");
    }
  }

  public static LinearWithWarmup ofFraction(double warmupFraction, long totalSteps, double alphaF) {
    return new LinearWithWarmup(Math.round(warmupFraction * totalSteps), totalSteps, alphaF);
  }

  public double factor(long completedSteps) {
    if (completedSteps < warmupSteps) {
      return (double) completedSteps / warmupSteps;
    }
    long decaySteps = totalSteps - warmupSteps;
    double frac = decaySteps == 0 ? 1 : Math.min(1.0, (double) (completedSteps - warmupSteps) / decaySteps);
    return 1.0 + (alphaF - 1.0) * frac;
  }
}
