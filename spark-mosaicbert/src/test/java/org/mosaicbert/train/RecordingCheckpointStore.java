package org.mosaicbert.train;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A {@link CheckpointStore} for tests: nothing to resume from; it keeps the metrics lines, and the folders handed to
 * {@link #publish} with how many held a train state at that moment (the trainer deletes them afterwards).
 */
public final class RecordingCheckpointStore implements CheckpointStore {
  public final List<StepMetrics> metrics = new ArrayList<>();
  public final List<Path> published = new ArrayList<>();
  public int publishedWithState;

  @Override
  public Optional<TrainState.Loaded> latest() {
    return Optional.empty();
  }

  @Override
  public void publish(long step, Path localDir) {
    published.add(localDir);
    if (Files.exists(localDir.resolve(TrainState.FILE))) {
      publishedWithState++;
    }
  }

  @Override
  public void keepNewest(int count) {}

  @Override
  public void appendMetrics(StepMetrics line) {
    metrics.add(line);
  }

  @Override
  public void dropMetricsAfter(long step) {
    metrics.removeIf(m -> m.step() > step);
  }
}
