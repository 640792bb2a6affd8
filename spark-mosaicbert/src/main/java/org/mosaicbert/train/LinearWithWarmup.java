package org.mosaicbert.train;

/**
 * Composer's {@code LinearWithWarmupScheduler}: the learning-rate factor rises linearly from 0 to 1 over the warmup
 * steps, then falls linearly to {@code alphaF} at the last step. Evaluated, as Composer does, at the number of steps
 * already completed (the first update runs at factor 0 when there is warmup).
 */
public final class LinearWithWarmup implements java.io.Serializable {
  private final long warmupSteps;
  private final long totalSteps;
  private final double alphaF;

  private LinearWithWarmup(long warmupSteps, long totalSteps, double alphaF) {
    if (totalSteps < 1 || warmupSteps < 0 || warmupSteps > totalSteps) {
      throw new IllegalArgumentException("schedule needs 0 <= warmup (" + warmupSteps + ") <= total steps ("
          + totalSteps + ") and total >= 1");
    }
    this.warmupSteps = warmupSteps;
    this.totalSteps = totalSteps;
    this.alphaF = alphaF;
  }

  /** The schedule of a run of {@code totalSteps}, its warmup and final factor read by name from its settings. */
  public static LinearWithWarmup of(SettingValues settings, long totalSteps) {
    return new LinearWithWarmup(Math.round(settings.get(TrainingSettings.WARMUP_FRACTION) * totalSteps), totalSteps,
        settings.get(TrainingSettings.ALPHA_F));
  }

  public long warmupSteps() {
    return warmupSteps;
  }

  public long totalSteps() {
    return totalSteps;
  }

  public double alphaF() {
    return alphaF;
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
