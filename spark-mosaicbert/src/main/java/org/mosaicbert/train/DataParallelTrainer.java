package org.mosaicbert.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.collective.Collective;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.UnpaddedBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One rank of data-parallel training: MLM pretraining or classification/regression fine-tuning. Each step: take this
 * rank's fixed slice of the step's global batch ({@link SampleStream}), mask it (keyed by seed, step and sample), agree on the divisor (the masked tokens of the
 * whole global batch), run the micro-batches (bucketed by length), allreduce the one flat gradient buffer with the
 * loss statistics appended, and step the optimizer. Every rank runs the same steps; rank 0 writes checkpoints and
 * metrics. Nothing depends on the number of ranks but the float summation order.
 */
public final class DataParallelTrainer {
  private static final Logger LOG = LoggerFactory.getLogger(DataParallelTrainer.class);
  private static final String LAST_GOOD_STATE = "Nothing of it was saved: the newest checkpoint, if any, holds the "
      + "last good weights. Lower the learning rate (lr) or lengthen the warmup (warmupFraction), then fit again: it "
      + "resumes from that checkpoint";

  private DataParallelTrainer() {}

  /** Trains with no step hook. */
  public static float[] train(TrainPlan plan, Backend backend, Collective collective, SampleStream stream,
      InitialWeights initial, CheckpointStore store) {
    return train(plan, backend, collective, stream, initial, store, StepHook.NONE);
  }

  /**
   * Trains this rank on {@code backend}, which the trainer owns from here on (it closes it), and returns the final flat
   * parameters. The metrics' accuracy is masked-token accuracy (MLM) or the share of sequences classified right
   * (classification).
   *
   * @param stream the samples in the order of the run
   * @param initial where the weights start, asked only when {@code store} has no checkpoint to resume from
   * @param hook called before every step
   */
  public static float[] train(TrainPlan plan, Backend backend, Collective collective, SampleStream stream,
      InitialWeights initial, CheckpointStore store, StepHook hook) {
    int rank = collective.rank();
    TrainPlan.Batching batching = plan.batching();
    int microTokens = batching.microBatchTokens();
    MosaicBert built;
    try {
      built = new MosaicBert(plan.config(), plan.heads(), backend, new MosaicBert.Capacity(microTokens,
          batching.microBatchSize(), batching.longestSample(), microTokens));
    } catch (RuntimeException | Error e) {
      backend.close(); // the trainer owns it: a retried task must find its memory (a GPU's) free
      throw e;
    }
    try (MosaicBert model = built) {
      long n = model.layout().size();
      DecoupledAdamW adamw = new DecoupledAdamW(model.backend(), n, plan.hyper());
      long start = 0;
      Optional<TrainState.Loaded> resume = store.latest();
      if (resume.isPresent()) {
        TrainState.Loaded state = resume.get();
        if (state.params().length != n) {
          throw new IllegalArgumentException("the checkpoint holds " + state.params().length + " parameters, this "
              + "model " + n + ": it comes from another model config; use another checkpointDir");
        }
        model.setAllParameters(state.params());
        adamw.restore(state.m(), state.v(), state.step());
        start = state.step();
        if (rank == 0) {
          LOG.info("resuming from the checkpoint of step {}", start);
        }
      } else {
        model.setAllParameters(initial.values(model.layout(), model.config(), plan.seed())); // checks the count
      }
      // Rank 0's failed write: every rank stops at the next step's first allreduce.
      IOException unwritten = null;
      if (rank == 0) {
        try {
          store.dropMetricsAfter(start); // a stopped run's lines after its checkpoint: this run writes them again
        } catch (IOException e) {
          unwritten = e;
        }
      }
      LinearWithWarmup schedule = plan.schedule();
      // The host copy of the gradients, for a collective that reduces through host memory (not NCCL on a GPU).
      float[] scratch = collective.reducesInDeviceMemory(model.backend()) ? null : new float[(int) n + 2];
      for (long step = start; step < plan.totalSteps(); step++) {
        long t0 = System.nanoTime();
        hook.beforeStep(rank, step);
        List<UnpaddedBatch> microBatches = microBatches(plan, stream, step, rank);
        // The divisor: masked tokens (MLM) or sequences (classification) of the whole global batch.
        long masked = microBatches.stream().mapToLong(b -> plan.objective() == MosaicBert.Objective.MLM
            ? b.maskedRows().length : b.numSequences()).sum();
        long tokens = microBatches.stream().mapToLong(UnpaddedBatch::nnz).sum();
        float[] counts = {masked, tokens, unwritten == null ? 0 : 1};
        collective.allReduceSum(counts);
        if (counts[2] > 0) {
          throw unwritable(step, unwritten); // the write of the step before this one
        }
        double divisor = Math.max(1, counts[0]);
        model.zeroGradients();
        MosaicBert.Randomness randomness = new MosaicBert.Randomness(plan.seed(), step);
        List<MosaicBert.Loss> losses = new ArrayList<>(microBatches.size());
        for (UnpaddedBatch batch : microBatches) {
          losses.add(model.forward(batch, plan.objective(), randomness));
          model.backward(divisor);
        }
        // Read once the step's passes are all queued: a GPU computes on while each loss waits on the device.
        double lossSum = 0;
        long correct = 0;
        for (MosaicBert.Loss loss : losses) {
          lossSum += loss.sum();
          correct += loss.correct();
        }
        long t1 = System.nanoTime();
        float[] stats = {(float) lossSum, correct};
        collective.allReduceGradients(model.backend(), model.gradients().at(0), (int) n, stats, scratch);
        long t2 = System.nanoTime();
        long done = step + 1;
        double loss = stats[0] / divisor;
        double gradientNorm = Math.sqrt(model.backend().sumOfSquares(model.gradients().at(0), n));
        if (!Double.isFinite(loss) || !Double.isFinite(gradientNorm)) {
          throw new TrainingDiverged(done, String.format(Locale.ROOT, "step %d of %d: the loss is %s and the "
              + "gradient norm %s; training stopped before this step's update. %s", done, plan.totalSteps(), loss,
              gradientNorm, LAST_GOOD_STATE));
        }
        double factor = schedule.factor(step);
        adamw.step(model.parameters(), model.gradients(), factor);
        long t3 = System.nanoTime();
        if (rank == 0 && unwritten == null && (done % plan.metricsEvery() == 0 || done == plan.totalSteps())) {
          double seconds = (t3 - t0) / 1e9;
          try {
            store.appendMetrics(new StepMetrics(done, plan.totalSteps(), loss, stats[1] / divisor,
                plan.hyper().lr() * factor, gradientNorm, counts[1] / seconds, seconds, (t1 - t0 + t3 - t2) / 1e9,
                (t2 - t1) / 1e9));
          } catch (IOException e) {
            unwritten = e;
          }
        }
        if (done % plan.checkpointEvery() != 0 && done != plan.totalSteps()) {
          continue;
        }
        // Every rank checks the weights it would save (the same on all), so that all stop together: a checkpoint is
        // never written with weights that are not finite.
        double weights = model.backend().sumOfSquares(model.parameters().at(0), n);
        if (!Double.isFinite(weights)) {
          throw new TrainingDiverged(done, String.format(Locale.ROOT, "step %d of %d: the weights after it are not "
              + "finite (sum of squares %s); training stopped before saving them. %s", done, plan.totalSteps(),
              weights, LAST_GOOD_STATE));
        }
        if (rank == 0 && unwritten == null) {
          try {
            saveCheckpoint(plan, model, adamw, store, done);
          } catch (IOException e) {
            unwritten = e;
          }
        }
      }
      if (unwritten != null) {
        throw unwritable(plan.totalSteps(), unwritten); // the last step's: the other ranks are done
      }
      float[] params = new float[(int) n];
      model.backend().download(params, 0, model.parameters().at(0), (int) n);
      return params;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Rank 0's checkpoint of step {@code done}: written locally, then published by the store. */
  private static void saveCheckpoint(TrainPlan plan, MosaicBert model, DecoupledAdamW adamw, CheckpointStore store,
      long done) throws IOException {
    Path local = Files.createTempDirectory(store.stagingPrefix());
    try {
      try {
        TrainState.write(local, model.backend(), model.parameters(), adamw, plan.settings());
      } catch (IOException e) {
        throw new IOException("cannot write " + local + " (the local copy of the checkpoint): " + e.getMessage(), e);
      }
      store.publish(done, local);
      int keep = plan.settings().get(TrainingSettings.KEEP_CHECKPOINTS);
      if (keep > 0) {
        store.keepNewest(keep);
      }
    } finally {
      LocalCheckpointStore.deleteFolder(local); // whatever the store did with it
    }
  }

  /** Rank 0's failed write as every rank throws it; the others know only that rank 0 failed. */
  private static CheckpointWriteFailed unwritable(long step, IOException failure) {
    return failure != null
        ? new CheckpointWriteFailed(step, "step " + step + ": " + failure.getMessage() + "; training stopped "
            + "there, and the checkpoints written before stay. Free the space (or fix the permission), then fit "
            + "again: it resumes from the newest checkpoint", failure)
        : new CheckpointWriteFailed(step, "rank 0 could not write the checkpoint or the metrics of step " + step
            + " (rank 0 says why)", new IOException("rank 0 failed to write"));
  }

  /** This rank's slice of step {@code step}, masked, sorted by length and cut into micro-batches. */
  static List<UnpaddedBatch> microBatches(TrainPlan plan, SampleStream stream, long step, int rank) {
    TrainPlan.Batching batching = plan.batching();
    int share = batching.perWorker();
    List<Sample> slice = new ArrayList<>(stream.range(step * batching.globalBatchSize() + (long) rank * share, share));
    // Length buckets keep micro-batches of similar lengths together; ties by sample id keep it deterministic.
    slice.sort(Comparator.comparingInt((Sample s) -> s.inputIds().length).thenComparingLong(Sample::sampleId));
    List<UnpaddedBatch> out = new ArrayList<>();
    int from = 0;
    while (from < slice.size()) {
      // As many samples as the sequence and token bounds allow (the shortest first, so the bounds cut late).
      int to = from;
      long tokens = 0;
      while (to < slice.size() && to - from < batching.microBatchSize()
          && tokens + slice.get(to).inputIds().length <= batching.microBatchTokens()) {
        tokens += slice.get(to++).inputIds().length;
      }
      List<Sample> part = slice.subList(from, to);
      out.add(plan.objective() == MosaicBert.Objective.MLM ? Batches.mlm(part, plan.masking(), step)
          : Batches.labelled(part));
      from = to;
    }
    return out;
  }
}
