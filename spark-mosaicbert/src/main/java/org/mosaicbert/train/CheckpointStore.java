package org.mosaicbert.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/** Where rank 0 keeps training checkpoints and metrics (a local folder, or any Hadoop file system). */
public interface CheckpointStore extends java.io.Serializable {
  /**
   * The newest complete checkpoint that reads intact, if any: a damaged newer one (its checksum does not match, a
   * file is missing) is skipped with a warning naming it, so that one bad write cannot block a resume for good.
   */
  Optional<TrainState.Loaded> latest() throws IOException;

  /** Reads one checkpoint folder of a store (a local copy of it, say) into a T; throws when it is damaged. */
  interface FolderReader<F, T> {
    T read(F folder) throws IOException;
  }

  /**
   * The first of the complete checkpoint folders, newest first, that {@code read} reads without finding damage. When
   * there are complete checkpoints but every one is damaged, fails naming them: starting over silently would lose the
   * run.
   */
  static <F, T> Optional<T> newestIntact(java.util.List<F> newestFirst, FolderReader<F, T> read)
      throws IOException {
    StringBuilder damaged = new StringBuilder();
    for (F folder : newestFirst) {
      try {
        return Optional.of(read.read(folder));
      } catch (IllegalArgumentException | IllegalStateException | IOException e) {
        org.slf4j.LoggerFactory.getLogger(CheckpointStore.class).warn("checkpoint {} is damaged and skipped: {}",
            folder, e.getMessage());
        damaged.append("\n  ").append(folder).append(": ").append(e.getMessage());
      }
    }
    if (damaged.length() > 0) {
      throw new IOException("every complete checkpoint is damaged:" + damaged + "\ndelete the checkpoint folder to "
          + "start the run over");
    }
    return Optional.empty();
  }

  /**
   * Publishes a checkpoint written into the local folder {@code localDir} as the one of {@code step}. The caller
   * deletes {@code localDir} afterwards, whatever the store did.
   */
  void publish(long step, Path localDir) throws IOException;

  /** Deletes every complete checkpoint but the newest {@code count}, so that a long run's disk stays bounded. */
  void keepNewest(int count) throws IOException;

  /** Appends one step's line to the metrics log ({@value StepMetrics#FILE_NAME}). */
  void appendMetrics(StepMetrics metrics) throws IOException;

  /**
   * Removes the metrics log's lines of the steps after {@code step}, the checkpoint a run resumes from (0: a run
   * from the start): the run that wrote them was stopped, and the resumed run writes those steps again. So the log
   * holds each step once.
   */
  void dropMetricsAfter(long step) throws IOException;

  /**
   * The name prefix of the local folder rank 0 writes a checkpoint into before {@link #publish}: a store names it
   * after its location, so that the next run there can remove the copy a killed run left.
   */
  default String stagingPrefix() {
    return "mosaicbert-checkpoint";
  }

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
      public void keepNewest(int count) {}

      @Override
      public void appendMetrics(StepMetrics metrics) {}

      @Override
      public void dropMetricsAfter(long step) {}
    };
  }
}
