package org.mosaicbert.ml;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.mosaicbert.data.HadoopConf;
import org.slf4j.LoggerFactory;

/**
 * A fit's checkpoint location, which the driver and every worker must see: rank 0 writes checkpoints there, every rank
 * of a retried stage resumes from them, and the driver follows the metrics and reads the final weights there. A
 * folder on each machine's own disk would leave each worker its own checkpoints (and a retry on another machine none),
 * so before training the driver writes a marker with a token of this fit into it ({@link #mark}), and every task reads
 * it back ({@link #checkSeenBy}) and fails at once, naming the location, when it cannot.
 *
 * @param path the location, fully qualified on the driver ({@link LaunchPlan#resolveOnDriver})
 */
record CheckpointLocation(String path, String token, HadoopConf conf) implements Serializable {
  /** The marker's name in the location. */
  static final String MARKER = ".driver-marker";

  /** Writes this fit's marker into {@code path} (created when missing) and returns the location. */
  static CheckpointLocation mark(String path, Configuration conf) {
    CheckpointLocation location = new CheckpointLocation(path, UUID.randomUUID().toString(), HadoopConf.of(conf));
    Path marker = location.marker();
    try (OutputStream out = marker.getFileSystem(conf).create(marker, true)) {
      out.write(location.token.getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write to the checkpoint location " + path + " (checkpointDir): "
          + e.getMessage() + "; give a folder the driver can write", e);
    }
    return location;
  }

  /**
   * Fails, naming the location, when the worker of {@code rank} on {@code host} does not see the marker the driver
   * wrote (a folder on another machine's disk, a mount this machine lacks) or sees another fit's.
   */
  void checkSeenBy(int rank, String host) {
    String seen;
    Path marker = marker();
    try {
      FileSystem fs = marker.getFileSystem(conf.toConfiguration());
      if (!fs.exists(marker)) {
        seen = null;
      } else {
        try (InputStream in = fs.open(marker)) {
          seen = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(cannotSee(rank, host, "reading " + MARKER + " failed: " + e.getMessage()), e);
    }
    if (!token.equals(seen)) {
      throw new IllegalStateException(cannotSee(rank, host, seen == null ? "the marker the driver wrote there ("
          + MARKER + ") is missing" : "it holds another fit's marker (" + MARKER + ")"));
    }
  }

  private String cannotSee(int rank, String host, String why) {
    return "worker " + rank + " on " + host + " cannot see the checkpoint location " + path + ": " + why + "; "
        + "checkpoints must be on storage the driver and every worker see (HDFS, S3, a shared mount): set "
        + "checkpointDir to such a place";
  }

  /**
   * Readies the location for this fit, on the driver before the stage starts: removes what a killed run left half
   * written, and the metrics lines past the newest checkpoint, which this fit writes again (so that the progress shown
   * is this fit's). Rank 0 drops those lines again when it starts, from the checkpoint it actually resumes.
   *
   * @return the step of the newest checkpoint, which the fit resumes from (0: none)
   */
  long readyForRun() {
    HadoopCheckpointStore store = store();
    try {
      store.removeLeftovers();
      long newest = HadoopCheckpointStore.newestStep(path, conf.toConfiguration());
      store.dropMetricsAfter(newest);
      return newest;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot ready the checkpoint location " + path + " (checkpointDir): "
          + e.getMessage(), e);
    }
  }

  /** The store of the checkpoints and metrics kept here. */
  HadoopCheckpointStore store() {
    return new HadoopCheckpointStore(path, conf);
  }

  /** Removes the marker once the fit is over: it means nothing to a later one. */
  void unmark() {
    Path marker = marker();
    try {
      marker.getFileSystem(conf.toConfiguration()).delete(marker, false);
    } catch (IOException e) {
      LoggerFactory.getLogger(CheckpointLocation.class).warn("could not remove {}: {}", marker, e.getMessage());
    }
  }

  private Path marker() {
    return new Path(path, MARKER);
  }
}
