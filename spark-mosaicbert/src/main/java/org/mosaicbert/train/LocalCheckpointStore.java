package org.mosaicbert.train;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Checkpoints in a local folder: {@code step-000123/} each, complete once its {@code DONE} marker exists (written
 * last), and the metrics log ({@value StepMetrics#FILE_NAME}).
 */
public final class LocalCheckpointStore implements CheckpointStore {
  private final Path dir;

  public LocalCheckpointStore(Path dir) {
    this.dir = dir;
  }

  public static String stepFolder(long step) {
    return String.format("step-%09d", step);
  }

  @Override
  public Optional<TrainState.Loaded> latest() throws IOException {
    return CheckpointStore.newestIntact(completeNewestFirst(), TrainState::read);
  }

  private List<Path> completeNewestFirst() throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> entries = Files.list(dir)) {
      return entries.filter(p -> p.getFileName().toString().startsWith("step-"))
          .filter(p -> Files.exists(p.resolve("DONE")))
          .sorted(Comparator.comparing((Path p) -> p.getFileName().toString()).reversed()).toList();
    }
  }

  @Override
  public void keepNewest(int count) throws IOException {
    List<Path> complete = completeNewestFirst();
    for (Path old : complete.subList(Math.min(count, complete.size()), complete.size())) {
      Files.delete(old.resolve("DONE")); // first: a folder half deleted is no longer complete
      deleteFolder(old);
    }
  }

  @Override
  public void publish(long step, Path localDir) throws IOException {
    Files.createDirectories(dir);
    Path target = dir.resolve(stepFolder(step));
    Path tmp = dir.resolve("." + stepFolder(step) + ".tmp");
    deleteFolder(tmp);
    Files.createDirectories(tmp);
    try (Stream<Path> files = Files.list(localDir)) {
      for (Path f : files.toList()) {
        Files.copy(f, tmp.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    Files.writeString(tmp.resolve("DONE"), "step " + step + "\n", StandardCharsets.UTF_8);
    deleteFolder(target); // the same step written again after a retry
    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
  }

  /** Deletes a flat folder (files, no subfolders) and its files; nothing when it is not there. */
  static void deleteFolder(Path folder) throws IOException {
    if (!Files.exists(folder)) {
      return;
    }
    try (Stream<Path> files = Files.list(folder)) {
      for (Path f : files.toList()) {
        Files.delete(f);
      }
    }
    Files.delete(folder);
  }

  @Override
  public void dropMetricsAfter(long step) throws IOException {
    Path file = dir.resolve(StepMetrics.FILE_NAME);
    if (!Files.exists(file)) {
      return;
    }
    String text = Files.readString(file, StandardCharsets.UTF_8);
    String kept = StepMetrics.linesUpTo(text, step);
    if (!kept.equals(text)) {
      Path tmp = dir.resolve("." + StepMetrics.FILE_NAME + ".tmp");
      Files.writeString(tmp, kept, StandardCharsets.UTF_8);
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  @Override
  public void appendMetrics(StepMetrics metrics) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve(StepMetrics.FILE_NAME), metrics.toJsonLine() + "\n", StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }
}
