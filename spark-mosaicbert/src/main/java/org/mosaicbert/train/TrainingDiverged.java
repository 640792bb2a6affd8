package org.mosaicbert.train;

/**
 * Training stopped at the first step whose loss or gradient norm, or whose weights about to be saved, were not finite
 * (NaN or infinite). Every rank sees the same values (they come out of the allreduce), so every rank stops at the same
 * step; nothing of that step was applied or saved, so the newest checkpoint holds the last good state.
 */
public final class TrainingDiverged extends ArithmeticException {
  /** The step that was not finite, counted as the metrics count steps (1 = the first). */
  private final long step;

  public TrainingDiverged(long step, String message) {
    super(message);
    this.step = step;
  }

  public long step() {
    return step;
  }
}
