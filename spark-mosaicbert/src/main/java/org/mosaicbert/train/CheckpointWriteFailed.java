package org.mosaicbert.train;

import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * Rank 0 could not write a checkpoint or a metrics line (a full disk, a quota, no permission). Every rank stops at
 * the next step together (rank 0 says so through the step's first allreduce), rather than rank 0 failing alone: Spark
 * would rerun the stage, which would redo the steps since the last checkpoint and fail the same way. The message
 * names what could not be written and why; the checkpoints written before stay.
 */
public final class CheckpointWriteFailed extends UncheckedIOException {
  /** The step whose checkpoint or metrics could not be written, counted as the metrics count steps. */
  private final long step;

  public CheckpointWriteFailed(long step, String message, IOException cause) {
    super(message, cause);
    this.step = step;
  }

  public long step() {
    return step;
  }
}
