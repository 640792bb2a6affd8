package org.mosaicbert.ml;

import java.io.Serializable;
import org.mosaicbert.train.InitialWeights;
import org.mosaicbert.train.TrainPlan;

/**
 * How a fit runs, decided on the driver in one place ({@code MosaicBertEstimator.fit}) and handed whole to
 * {@link BarrierLauncher}: the plan every rank trains by (its batching says how many workers), where the ranks train
 * and with how many CPU threads, how long a worker waits for a peer, where checkpoints go, and where the weights start.
 *
 * @param device CPU or GPU, already resolved from the param
 * @param checkpointDir where checkpoints and the metrics log go; empty for none
 */
record LaunchPlan(TrainPlan training, DevicePlacement device, int threadsPerWorker, int ringTimeoutSeconds,
    String checkpointDir, InitialWeights initial) implements Serializable {
  LaunchPlan {
    if (device == DevicePlacement.AUTO) {
      throw new IllegalArgumentException("a launch plan's device is resolved: CPU or GPU, not AUTO");
    }
  }

  /** The barrier tasks, one per rank. */
  int workers() {
    return training.batching().workers();
  }
}
