package org.mosaicbert.ml;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.mosaicbert.train.StepMetrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shows training progress on the driver while the barrier stage runs, by following the metrics log that
 * rank 0 writes into the checkpoint folder (through the Hadoop FileSystem, so any store works): step, loss, masked
 * accuracy, lr, tokens/s, compute and allreduce time, ETA. At the end it draws the loss curve as {@code loss.png}
 * beside the metrics.
 */
final class TrainingProgress implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TrainingProgress.class);

  private final String checkpointDir;
  private final Configuration conf;
  private final List<double[]> curve = new ArrayList<>();
  private final Thread thread;
  private volatile boolean running = true;
  private int linesSeen;

  TrainingProgress(String checkpointDir, Configuration conf) {
    this.checkpointDir = checkpointDir;
    this.conf = conf;
    this.thread = new Thread(() -> {
      while (running) {
        poll();
        try {
          Thread.sleep(1000);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "mosaicbert-progress");
    thread.setDaemon(true);
    thread.start();
  }

  private synchronized void poll() {
    List<StepMetrics> lines;
    try {
      lines = HadoopCheckpointStore.readMetrics(checkpointDir, conf);
    } catch (IOException | IllegalArgumentException e) {
      LOG.debug("metrics not readable yet: {}", e.getMessage());
      return;
    }
    for (StepMetrics m : lines.subList(Math.min(linesSeen, lines.size()), lines.size())) {
      curve.add(new double[] {m.step(), m.loss()});
      LOG.info(String.format("step %d/%d  loss %.4f  accuracy %.3f  lr %.2e  %.0f tokens/s  step %.2f s "
          + "(compute %.2f, allreduce %.2f)  ETA %.0f s", m.step(), m.totalSteps(), m.loss(), m.accuracy(), m.lr(),
          m.tokensPerSecond(), m.stepSeconds(), m.computeSeconds(), m.allreduceSeconds(),
          m.stepSeconds() * (m.totalSteps() - m.step())));
    }
    linesSeen = Math.max(linesSeen, lines.size());
  }

  /** (step, loss) of every metrics line seen. */
  synchronized List<double[]> curve() {
    return new ArrayList<>(curve);
  }

  /** Stops following, reads what is left, and writes loss.png beside the metrics. */
  @Override
  public void close() {
    running = false;
    thread.interrupt();
    poll();
    List<double[]> points = curve();
    if (points.isEmpty()) {
      return;
    }
    try {
      // Written beside the metrics under a temporary name and renamed: no local copy, no half-written loss.png.
      org.apache.hadoop.fs.Path target = new org.apache.hadoop.fs.Path(checkpointDir, "loss.png");
      org.apache.hadoop.fs.Path tmp = new org.apache.hadoop.fs.Path(checkpointDir, ".loss.png.tmp");
      FileSystem fs = target.getFileSystem(conf);
      try (var out = fs.create(tmp, true)) {
        out.write(LossCurve.png(points));
      }
      fs.delete(target, false);
      fs.rename(tmp, target);
    } catch (IOException | RuntimeException e) {
      LOG.warn("could not draw the loss curve: {}", e.toString());
    }
  }
}
