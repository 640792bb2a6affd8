package org.mosaicbert.ml;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FSError;
import org.apache.hadoop.fs.FileSystem;
import org.mosaicbert.data.HadoopConf;
import org.mosaicbert.io.SafeTensors;
import org.mosaicbert.train.CheckpointStore;
import org.mosaicbert.train.LocalCheckpointStore;
import org.mosaicbert.train.StepMetrics;
import org.mosaicbert.train.TrainState;
import org.slf4j.LoggerFactory;

/**
 * Checkpoints through the Hadoop FileSystem API (local disk, HDFS, S3): {@code step-000000123/} folders, complete
 * once their {@code DONE} marker exists (written last), and the metrics log ({@value StepMetrics#FILE_NAME}).
 */
public final class HadoopCheckpointStore implements CheckpointStore {
  /** The suffix of a file written under a temporary name ({@code .NAME.tmp}) and renamed. */
  private static final String TMP = ".tmp";

  private final String dir;
  private final HadoopConf conf;

  HadoopCheckpointStore(String dir, HadoopConf conf) {
    this.dir = dir;
    this.conf = conf;
  }

  private FileSystem fs() throws IOException {
    return new org.apache.hadoop.fs.Path(dir).getFileSystem(conf.toConfiguration());
  }

  @Override
  public Optional<TrainState.Loaded> latest() throws IOException {
    return newestIntact(TrainState::read);
  }

  /** The weights of the newest intact checkpoint, without its optimizer state: how the driver gets a run's result. */
  Optional<TrainState.Weights> latestWeights() throws IOException {
    return newestIntact(TrainState::readWeights);
  }

  private <T> Optional<T> newestIntact(CheckpointStore.FolderReader<Path, T> reader) throws IOException {
    FileSystem fs = fs();
    return CheckpointStore.newestIntact(completeNewestFirst(fs), folder -> read(fs, folder, reader));
  }

  /** The complete checkpoint folders (their DONE marker written), newest first. */
  private List<org.apache.hadoop.fs.Path> completeNewestFirst(FileSystem fs) throws IOException {
    org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(dir);
    if (!fs.exists(root)) {
      return List.of();
    }
    return Arrays.stream(fs.listStatus(root))
        .map(FileStatus::getPath)
        .filter(p -> p.getName().startsWith("step-"))
        .filter(p -> exists(fs, new org.apache.hadoop.fs.Path(p, "DONE")))
        .sorted(Comparator.comparing(org.apache.hadoop.fs.Path::getName).reversed()).toList();
  }

  /**
   * The header of the newest complete checkpoint's training state (the shape of its parameters; its step and the
   * settings it was trained with), read alone; empty when there is no checkpoint.
   */
  Optional<SafeTensors.Header> newestHeader() throws IOException {
    FileSystem fs = fs();
    for (org.apache.hadoop.fs.Path folder : completeNewestFirst(fs)) {
      org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(folder, TrainState.FILE);
      if (exists(fs, file)) {
        try (var in = fs.open(file)) {
          return Optional.of(SafeTensors.readHeader(in, file.toString()));
        }
      }
    }
    return Optional.empty();
  }

  @Override
  public void keepNewest(int count) throws IOException {
    FileSystem fs = fs();
    List<org.apache.hadoop.fs.Path> complete = completeNewestFirst(fs);
    for (org.apache.hadoop.fs.Path old : complete.subList(Math.min(count, complete.size()), complete.size())) {
      fs.delete(new org.apache.hadoop.fs.Path(old, "DONE"), false); // first: a folder half deleted is not complete
      fs.delete(old, true);
    }
  }

  /** Writes {@code bytes} as {@code name} in the checkpoint folder, under a temporary name first. */
  void writeBeside(String name, byte[] bytes) throws IOException {
    replaceWhole(fs(), new org.apache.hadoop.fs.Path(dir, name), bytes);
  }

  /**
   * Writes {@code file} whole under a temporary name ({@code .NAME.tmp}) renamed over it: no reader sees it half
   * written, and a failed write (a full disk) leaves the file as it was and no temporary behind.
   */
  private static void replaceWhole(FileSystem fs, org.apache.hadoop.fs.Path file, byte[]... parts)
      throws IOException {
    org.apache.hadoop.fs.Path tmp = new org.apache.hadoop.fs.Path(file.getParent(), "." + file.getName() + TMP);
    try {
      try (OutputStream out = fs.create(tmp, true)) {
        for (byte[] part : parts) {
          out.write(part);
        }
      }
      fs.delete(file, false);
      if (!fs.rename(tmp, file)) {
        throw new IOException("cannot rename " + tmp + " to " + file);
      }
    } catch (IOException | FSError e) {
      deleteQuietly(fs, tmp, false);
      throw cannotWrite(file, e);
    }
  }

  /**
   * A failed write, naming what was being written. Hadoop's local file system reports a full disk as an
   * {@link FSError} (an Error), its message the IOException's class and message.
   */
  private static IOException cannotWrite(org.apache.hadoop.fs.Path path, Throwable e) {
    Throwable why = e instanceof FSError && e.getCause() != null ? e.getCause() : e;
    return new IOException("cannot write " + path + ": " + why.getMessage(), e);
  }

  private static void deleteQuietly(FileSystem fs, org.apache.hadoop.fs.Path path, boolean recursive) {
    try {
      fs.delete(path, recursive);
    } catch (IOException e) {
      // the write failed already; that failure is the one to report
    }
  }

  /** Rank 0's local staging copies of this store's checkpoints are named after it. */
  @Override
  public String stagingPrefix() {
    return Leftovers.stagingPrefix("checkpoint", new org.apache.hadoop.fs.Path(dir));
  }

  /**
   * Removes what a killed run left half written in the checkpoint folder: its temporary files ({@code .NAME.tmp})
   * and the folder of a checkpoint never finished (no DONE), which the resumed run writes again; and its staging
   * copies on this machine. Only for the run that holds the folder's {@link OutputLock}.
   */
  void removeLeftovers() throws IOException {
    Leftovers.removeStaging(stagingPrefix(), new org.apache.hadoop.fs.Path(dir));
    FileSystem fs = fs();
    org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(dir);
    if (!fs.exists(root)) {
      return;
    }
    for (FileStatus entry : fs.listStatus(root)) {
      String name = entry.getPath().getName();
      boolean unfinished = name.startsWith("step-") && !exists(fs, new org.apache.hadoop.fs.Path(entry.getPath(),
          "DONE"));
      if (name.startsWith(".") && name.endsWith(TMP) || unfinished) {
        LoggerFactory.getLogger(HadoopCheckpointStore.class).info("removing {}, left unfinished by an earlier run",
            entry.getPath());
        fs.delete(entry.getPath(), true);
      }
    }
  }

  /** The step of the newest complete checkpoint in {@code dir}; 0 when there is none. */
  public static long newestStep(String dir, Configuration conf) throws IOException {
    HadoopCheckpointStore store = of(dir, conf);
    List<org.apache.hadoop.fs.Path> complete = store.completeNewestFirst(store.fs());
    return complete.isEmpty() ? 0 : Long.parseLong(complete.get(0).getName().substring("step-".length()));
  }

  /**
   * The settings the newest complete checkpoint in {@code dir} was trained with, as it records them (param name to
   * text, {@link TrainState#recordedSettings}); empty when there is no checkpoint.
   */
  public static Map<String, String> newestSettings(String dir, Configuration conf) throws IOException {
    return of(dir, conf).newestHeader().map(h -> TrainState.recordedSettings(h.metadata())).orElse(Map.of());
  }

  /**
   * Reads a checkpoint folder through a local copy (the training state is verified against its checksum as a local
   * file), deleted whatever happens; errors name the checkpoint folder, not the copy.
   */
  private static <T> T read(FileSystem fs, org.apache.hadoop.fs.Path folder,
      CheckpointStore.FolderReader<Path, T> reader) throws IOException {
    Path local = Files.createTempDirectory("mosaicbert-resume");
    try {
      for (String name : new String[] {TrainState.FILE, TrainState.CHECKSUM}) {
        org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(folder, name);
        if (!fs.exists(file)) {
          throw new IllegalArgumentException(file + " is missing: the checkpoint was not finished or was damaged");
        }
        fs.copyToLocalFile(false, file, new org.apache.hadoop.fs.Path(local.resolve(name).toUri()), true);
      }
      return reader.read(local);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(e.getMessage().replace(local.toString(), folder.toString()), e);
    } finally {
      for (String name : new String[] {TrainState.FILE, TrainState.CHECKSUM}) {
        Files.deleteIfExists(local.resolve(name));
      }
      Files.deleteIfExists(local);
    }
  }

  private static boolean exists(FileSystem fs, org.apache.hadoop.fs.Path p) {
    try {
      return fs.exists(p);
    } catch (IOException e) {
      return false;
    }
  }

  @Override
  public void publish(long step, Path localDir) throws IOException {
    FileSystem fs = fs();
    org.apache.hadoop.fs.Path target = new org.apache.hadoop.fs.Path(dir, LocalCheckpointStore.stepFolder(step));
    try {
      fs.delete(target, true); // the same step written again after a retry
      for (String name : new String[] {TrainState.FILE, TrainState.CHECKSUM}) {
        fs.copyFromLocalFile(true, true, new org.apache.hadoop.fs.Path(localDir.resolve(name).toString()),
            new org.apache.hadoop.fs.Path(target, name));
      }
      try (OutputStream out = fs.create(new org.apache.hadoop.fs.Path(target, "DONE"), true)) {
        out.write(("step " + step + "\n").getBytes(StandardCharsets.UTF_8));
      }
    } catch (IOException | FSError e) {
      deleteQuietly(fs, target, true); // never finished: no DONE, and nothing half written left behind
      throw cannotWrite(target, e);
    }
  }

  /** Object stores cannot append, so the small log is rewritten whole under a temporary name and renamed. */
  @Override
  public void appendMetrics(StepMetrics metrics) throws IOException {
    FileSystem fs = fs();
    org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(dir, StepMetrics.FILE_NAME);
    replaceWhole(fs, file, readIfExists(fs, file), (metrics.toJsonLine() + "\n").getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public void dropMetricsAfter(long step) throws IOException {
    FileSystem fs = fs();
    org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(dir, StepMetrics.FILE_NAME);
    String text = new String(readIfExists(fs, file), StandardCharsets.UTF_8);
    String kept = StepMetrics.linesUpTo(text, step);
    if (!kept.equals(text)) {
      replaceWhole(fs, file, kept.getBytes(StandardCharsets.UTF_8));
    }
  }

  private static byte[] readIfExists(FileSystem fs, org.apache.hadoop.fs.Path file) throws IOException {
    if (!fs.exists(file)) {
      return new byte[0];
    }
    try (var in = fs.open(file)) {
      return in.readAllBytes();
    }
  }

  /** The metrics log of checkpoint folder {@code dir} (empty when there is none yet). */
  public static List<StepMetrics> readMetrics(String dir, Configuration conf) throws IOException {
    org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(dir, StepMetrics.FILE_NAME);
    FileSystem fs = file.getFileSystem(conf);
    if (!fs.exists(file)) {
      return List.of();
    }
    try (var in = fs.open(file)) {
      return StepMetrics.parseLines(new String(in.readAllBytes(), StandardCharsets.UTF_8), file.toString());
    }
  }

  static HadoopCheckpointStore of(String dir, Configuration conf) {
    return new HadoopCheckpointStore(dir, HadoopConf.of(conf));
  }
}
