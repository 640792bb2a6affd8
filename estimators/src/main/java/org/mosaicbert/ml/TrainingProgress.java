package org.mosaicbert.ml;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.mosaicbert.train.StepMetrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shows training progress on the driver while the barrier stage runs, by following the metrics log that
 * rank 0 writes into the checkpoint folder (through the Hadoop FileSystem, so any store works): step, loss, masked
 * accuracy, lr, tokens/s, compute and allreduce time, ETA. A stage that Spark reruns resumes from a checkpoint,
 * dropping the lines after it, and the display follows from there. At the end it draws the loss curve of the whole
 * log, each step once, as {@code loss.png} beside the metrics.
 */
final class TrainingProgress implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TrainingProgress.class);

  private final String checkpointDir;
  private final Configuration conf;
  private final Thread thread;
  private volatile boolean running = true;
  /** The newest step shown. */
  private long shown;

  /** @param resumedAt the step of the checkpoint the fit resumes from (0: none): the log's lines up to it are old */
  TrainingProgress(String checkpointDir, Configuration conf, long resumedAt) {
    this.checkpointDir = checkpointDir;
    this.conf = conf;
    this.shown = resumedAt;
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
    // A rerun stage resumed from a checkpoint before the newest step shown: follow it from there.
    shown = Math.min(shown, lines.isEmpty() ? 0 : lines.get(lines.size() - 1).step());
    for (StepMetrics m : lines) {
      if (m.step() <= shown) {
        continue;
      }
      LOG.info(String.format("step %d/%d  loss %.4f  accuracy %.3f  lr %.2e  %.0f tokens/s  step %.2f s "
          + "(compute %.2f, allreduce %.2f)  ETA %.0f s", m.step(), m.totalSteps(), m.loss(), m.accuracy(), m.lr(),
          m.tokensPerSecond(), m.stepSeconds(), m.computeSeconds(), m.allreduceSeconds(),
          m.stepSeconds() * (m.totalSteps() - m.step())));
      shown = m.step();
    }
  }

  /** Stops following, reads what is left, and writes loss.png beside the metrics. */
  @Override
  public void close() {
    running = false;
    thread.interrupt();
    poll();
    List<double[]> points = new ArrayList<>();
    try {
      HadoopCheckpointStore.readMetrics(checkpointDir, conf).forEach(m -> points.add(new double[] {m.step(),
          m.loss()}));
    } catch (IOException | IllegalArgumentException e) {
      LOG.warn("could not draw the loss curve: {}", e.toString());
    }
    if (points.isEmpty()) {
      return;
    }
    // Written beside the metrics as the store writes every file there: under a temporary name renamed into place, so
    // there is no half-written loss.png, and no temporary after a failed write (a full disk).
    try {
      HadoopCheckpointStore.of(checkpointDir, conf).writeBeside("loss.png", LossCurve.png(points));
    } catch (IOException | RuntimeException e) {
      LOG.warn("could not draw the loss curve: {}", e.getMessage());
    }
  }
}
