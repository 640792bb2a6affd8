package org.mosaicbert.ml;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shows training progress on the driver while the barrier stage runs, by following the {@code metrics.jsonl} that
 * rank 0 writes into the checkpoint folder (through the Hadoop FileSystem, so any store works): step, loss, masked
 * accuracy, lr, tokens/s, compute and allreduce time, ETA. At the end it draws the loss curve as {@code loss.png}
 * beside the metrics.
 */
final class TrainingProgress implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TrainingProgress.class);

  private final org.apache.hadoop.fs.Path metrics;
  private final Configuration conf;
  private final List<double[]> curve = new ArrayList<>();
  private final Thread thread;
  private volatile boolean running = true;
  private int linesSeen;

  TrainingProgress(String checkpointDir, Configuration conf) {
    this.metrics = new org.apache.hadoop.fs.Path(checkpointDir, "metrics.jsonl");
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
    try {
      FileSystem fs = metrics.getFileSystem(conf);
      if (!fs.exists(metrics)) {
        return;
      }
      String text;
      try (InputStream in = fs.open(metrics)) {
        text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
      String[] lines = text.split("\n");
      ObjectMapper json = new ObjectMapper();
      for (int i = linesSeen; i < lines.length; i++) {
        if (lines[i].isBlank()) {
          continue;
        }
        JsonNode m = json.readTree(lines[i]);
        long step = m.path("step").asLong();
        long total = m.path("total_steps").asLong();
        curve.add(new double[] {step, m.path("loss").asDouble()});
        LOG.info(String.format("step %d/%d  loss %.4f  accuracy %.3f  lr %.2e  %.0f tokens/s  step %.2f s "
            + "(compute %.2f, allreduce %.2f)  ETA %.0f s", step, total, m.path("loss").asDouble(),
            m.path("accuracy").asDouble(), m.path("lr").asDouble(), m.path("tokens_per_s").asDouble(),
            m.path("step_s").asDouble(), m.path("compute_s").asDouble(), m.path("allreduce_s").asDouble(),
            m.path("step_s").asDouble() * (total - step)));
        linesSeen = i + 1;
      }
    } catch (IOException e) {
      LOG.debug("metrics not readable yet: {}", e.getMessage());
    }
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
      FileSystem fs = metrics.getFileSystem(conf);
      org.apache.hadoop.fs.Path target = new org.apache.hadoop.fs.Path(metrics.getParent(), "loss.png");
      org.apache.hadoop.fs.Path tmp = new org.apache.hadoop.fs.Path(metrics.getParent(), ".loss.png.tmp");
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
