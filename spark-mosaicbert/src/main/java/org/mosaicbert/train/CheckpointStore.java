package org.mosaicbert.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/** Where rank 0 keeps training checkpoints and metrics (a local folder, or any Hadoop file system). */
public interface CheckpointStore extends java.io.Serializable {
  /** The newest complete checkpoint, if any. */
  Optional<TrainState.Loaded> latest() throws IOException;

  /**
   * Publishes a checkpoint written into the local folder {@code localDir} as the one of {@code step}. The caller
   * deletes {@code localDir} afterwards, whatever the store did.
   */
  void publish(long step, Path localDir) throws IOException;

  /** Appends one JSON line to the metrics log. */
  void appendMetrics(String jsonLine) throws IOException;

  /** No checkpoints, no metrics. */
  static CheckpointStore none() {
    return new CheckpointStore() {
      @Override
      public Optional<TrainState.Loaded> latest() {
        return Optional.empty();
      }

      @Override
      public void publish(long step, Path localDir) {}

      @Override
      public void appendMetrics(String jsonLine) {}
    };
  }
}
