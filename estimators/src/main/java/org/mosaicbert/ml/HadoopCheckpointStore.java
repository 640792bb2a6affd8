package org.mosaicbert.ml;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.mosaicbert.data.HadoopConf;
import org.mosaicbert.train.CheckpointStore;
import org.mosaicbert.train.LocalCheckpointStore;
import org.mosaicbert.train.TrainState;

/**
 * Checkpoints through the Hadoop FileSystem API (local disk, HDFS, S3): {@code step-000000123/} folders, complete
 * once their {@code DONE} marker exists (written last), and {@code metrics.jsonl}.
 */
final class HadoopCheckpointStore implements CheckpointStore {
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
    org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(dir);
    FileSystem fs = fs();
    if (!fs.exists(root)) {
      return Optional.empty();
    }
    FileStatus[] entries = fs.listStatus(root);
    Optional<FileStatus> newest = Arrays.stream(entries)
        .filter(s -> s.getPath().getName().startsWith("step-"))
        .filter(s -> exists(fs, new org.apache.hadoop.fs.Path(s.getPath(), "DONE")))
        .max(Comparator.comparing(s -> s.getPath().getName()));
    if (newest.isEmpty()) {
      return Optional.empty();
    }
    Path local = Files.createTempDirectory("mosaicbert-resume");
    for (String name : new String[] {TrainState.FILE, TrainState.CHECKSUM}) {
      fs.copyToLocalFile(false, new org.apache.hadoop.fs.Path(newest.get().getPath(), name),
          new org.apache.hadoop.fs.Path(local.resolve(name).toString()), true);
    }
    TrainState.Loaded loaded = TrainState.read(local);
    Files.delete(local.resolve(TrainState.FILE));
    Files.delete(local.resolve(TrainState.CHECKSUM));
    Files.delete(local);
    return Optional.of(loaded);
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
    fs.delete(target, true); // the same step written again after a retry
    for (String name : new String[] {TrainState.FILE, TrainState.CHECKSUM}) {
      fs.copyFromLocalFile(true, true, new org.apache.hadoop.fs.Path(localDir.resolve(name).toString()),
          new org.apache.hadoop.fs.Path(target, name));
    }
    try (OutputStream out = fs.create(new org.apache.hadoop.fs.Path(target, "DONE"), true)) {
      out.write(("step " + step + "\n").getBytes(StandardCharsets.UTF_8));
    }
  }

  /** Object stores cannot append, so the small log is rewritten whole under a temporary name and renamed. */
  @Override
  public void appendMetrics(String jsonLine) throws IOException {
    FileSystem fs = fs();
    org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(dir, "metrics.jsonl");
    byte[] old = new byte[0];
    if (fs.exists(file)) {
      try (var in = fs.open(file)) {
        old = in.readAllBytes();
      }
    }
    org.apache.hadoop.fs.Path tmp = new org.apache.hadoop.fs.Path(dir, ".metrics.jsonl.tmp");
    try (OutputStream out = fs.create(tmp, true)) {
      out.write(old);
      out.write((jsonLine + "\n").getBytes(StandardCharsets.UTF_8));
    }
    fs.delete(file, false);
    fs.rename(tmp, file);
  }

  static HadoopCheckpointStore of(String dir, Configuration conf) {
    return new HadoopCheckpointStore(dir, HadoopConf.of(conf));
  }
}
