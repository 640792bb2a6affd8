package org.mosaicbert.ml;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.SparkConf;
import org.mosaicbert.train.CheckpointWriteFailed;
import org.mosaicbert.train.TrainState;
import org.mosaicbert.train.TrainingDiverged;
import scala.Tuple2;

/**
 * How the trained weights reach the driver without passing through the task results, whose total per job
 * {@code spark.driver.maxResultSize} bounds (1 GiB by default: less than the large preset's 1.3 GB of float32).
 *
 * <ul>
 *   <li>With a checkpoint location, through it: rank 0 checkpoints the last step anyway, on storage the driver sees,
 *   and the driver reads that checkpoint's weights (not its optimizer moments) back.
 *   <li>Without one, in pieces: rank 0 cuts its weights into pieces keyed by their index, which go through the shuffle
 *   that follows the barrier stage (executor to executor, outside the task results); the stage after it has one
 *   partition per piece, and the driver fetches the partitions one job at a time ({@code toLocalIterator}), each job
 *   returning one piece sized well below the limit. A temporary folder was the other choice, but on a cluster
 *   without shared storage no folder is seen by both rank 0 and the driver; the shuffle always is.
 * </ul>
 */
final class FinalWeights {
  /** The largest piece, when {@code spark.driver.maxResultSize} allows it (or is 0, no limit). */
  static final int MAX_PIECE_FLOATS = 16 << 20;
  /** The smallest piece, whatever the limit: a task's result must hold at least this much. */
  static final int MIN_PIECE_FLOATS = 1024;

  private FinalWeights() {}

  /** What a barrier task hands the driver through the shuffle: a piece of rank 0's weights, or why training stopped. */
  sealed interface Output extends Serializable permits Piece, Stopped {}

  record Piece(float[] values) implements Output {}

  /**
   * Training stopped at a step, every rank there, so it is an outcome, not a task failure, and Spark does not rerun the
   * stage into the same step: a step that was not finite ({@link TrainingDiverged}), or a checkpoint rank 0 could not
   * write ({@link CheckpointWriteFailed}: a rerun would fail the same way).
   *
   * @param diverged whether it diverged; else a write failed
   */
  record Stopped(long step, String reason, boolean diverged) implements Output {
    static Stopped by(RuntimeException stop) {
      return stop instanceof TrainingDiverged d ? new Stopped(d.step(), d.getMessage(), true)
          : new Stopped(((CheckpointWriteFailed) stop).step(), stop.getMessage(), false);
    }

    RuntimeException exception() {
      return diverged ? new TrainingDiverged(step, reason) : new CheckpointWriteFailed(step, reason,
          new IOException(reason));
    }
  }

  /**
   * Floats per piece: a quarter of {@code spark.driver.maxResultSize} (room for the task's metrics and the
   * serialization around the piece), at most {@link #MAX_PIECE_FLOATS}.
   */
  static int pieceFloats(SparkConf conf) {
    long limit = conf.getSizeAsBytes("spark.driver.maxResultSize", "1g");
    long floats = limit <= 0 ? MAX_PIECE_FLOATS : limit / 4 / Float.BYTES;
    return (int) Math.max(MIN_PIECE_FLOATS, Math.min(MAX_PIECE_FLOATS, floats));
  }

  /** The pieces {@code size} weights are cut into. */
  static int pieceCount(long size, int pieceFloats) {
    return (int) Math.max(1, (size + pieceFloats - 1) / pieceFloats);
  }

  /** Rank 0's weights as (index, piece) pairs, in order. */
  static Iterator<Tuple2<Integer, Output>> pieces(float[] weights, int pieceFloats) {
    List<Tuple2<Integer, Output>> out = new ArrayList<>();
    for (int i = 0; i < pieceCount(weights.length, pieceFloats); i++) {
      int from = i * pieceFloats;
      out.add(new Tuple2<>(i, new Piece(Arrays.copyOfRange(weights, from, Math.min(weights.length,
          from + pieceFloats)))));
    }
    return out.iterator();
  }

  /**
   * The weights put back together from the pieces that come, in any order (null when {@code size} is 0: none were
   * sent); every piece must come. A rank's stop is thrown as what it was ({@link Stopped}).
   */
  static float[] receive(Iterator<Tuple2<Integer, Output>> outputs, long size, int pieceFloats) {
    float[] weights = size == 0 ? null : new float[Math.toIntExact(size)];
    boolean[] arrived = new boolean[size == 0 ? 0 : pieceCount(size, pieceFloats)];
    while (outputs.hasNext()) {
      Tuple2<Integer, Output> output = outputs.next();
      if (output._2() instanceof Stopped stopped) {
        throw stopped.exception();
      }
      float[] piece = ((Piece) output._2()).values();
      System.arraycopy(piece, 0, weights, output._1() * pieceFloats, piece.length);
      arrived[output._1()] = true;
    }
    for (int i = 0; i < arrived.length; i++) {
      if (!arrived[i]) {
        throw new IllegalStateException("piece " + i + " of the trained weights never reached the driver");
      }
    }
    return weights;
  }

  /**
   * The weights of the run's last checkpoint, from the checkpoint location. Fails, naming the location, when the newest
   * intact checkpoint is older than the last step: rank 0 wrote it there, so it was damaged or removed since.
   */
  static float[] fromCheckpoint(HadoopCheckpointStore store, String location, long lastStep) {
    try {
      TrainState.Weights weights = store.latestWeights().orElseThrow(() -> new IllegalStateException(
          "training ended, but " + location + " holds no checkpoint"));
      if (weights.step() < lastStep) {
        throw new IllegalStateException("training ended at step " + lastStep + ", but the newest intact checkpoint in "
            + location + " is of step " + weights.step() + ": the last one was damaged or removed; fit again to "
            + "resume from it");
      }
      return weights.params();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the trained weights from " + location + ": " + e.getMessage(), e);
    }
  }
}
