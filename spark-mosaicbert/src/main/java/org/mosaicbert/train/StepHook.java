package org.mosaicbert.train;

import java.io.Serializable;

/**
 * Called by every rank before each optimizer step. Tests make a rank fail at a chosen step with it, to exercise a
 * retry and an exact resume; training itself passes {@link #NONE}.
 */
@FunctionalInterface
public interface StepHook extends Serializable {
  StepHook NONE = (rank, step) -> {};

  void beforeStep(int rank, long step);
}
