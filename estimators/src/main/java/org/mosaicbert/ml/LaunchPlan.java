package org.mosaicbert.ml;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.mosaicbert.train.InitialWeights;
import org.mosaicbert.train.TrainPlan;
import org.mosaicbert.train.TrainingSettings;

/**
 * How a fit runs, decided on the driver in one place ({@code MosaicBertEstimator.fit}) and handed whole to
 * {@link BarrierLauncher}: the plan every rank trains by (its settings say how many workers, with how many CPU threads,
 * and how long a worker waits for a peer), where the ranks train, where checkpoints go, and where the weights start.
 *
 * @param device CPU or GPU, already resolved from the param
 * @param checkpointDir where checkpoints and the metrics log go, resolved on the driver; empty for none
 */
record LaunchPlan(TrainPlan training, DevicePlacement device, String checkpointDir, InitialWeights initial)
    implements Serializable {
  LaunchPlan {
    if (device == DevicePlacement.AUTO) {
      throw new IllegalArgumentException("a launch plan's device is resolved: CPU or GPU, not AUTO");
    }
  }

  /**
   * {@code path} as the tasks must see it: qualified on the driver, so that a relative path means the driver's working
   * folder, not each executor's; empty stays empty.
   */
  static String resolveOnDriver(String path, Configuration conf) {
    if (path.isEmpty()) {
      return path;
    }
    Path p = new Path(path);
    try {
      return p.getFileSystem(conf).makeQualified(p).toString();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot resolve " + path + ": " + e.getMessage(), e);
    }
  }

  /** The CPU threads of each rank. */
  int threadsPerWorker() {
    return training.settings().get(TrainingSettings.THREADS_PER_WORKER);
  }

  /** How long a rank waits for a silent peer inside a step before the step fails. */
  int ringTimeoutSeconds() {
    return training.settings().get(TrainingSettings.RING_TIMEOUT_SECONDS);
  }

  /** The barrier tasks, one per rank. */
  int workers() {
    return training.batching().workers();
  }
}
