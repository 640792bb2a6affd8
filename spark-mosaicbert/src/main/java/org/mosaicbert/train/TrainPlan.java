package org.mosaicbert.train;

import java.io.Serializable;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.slf4j.LoggerFactory;

/**
 * Everything every rank must agree on, fixed on the driver before training starts: what is trained, how a step's
 * samples are batched, the learning-rate schedule, the masking (MLM only), when rank 0 reports, and the seed of
 * initialisation and dropout. How and where the ranks run (backend, threads, collective) is not part of it.
 *
 * @param objective MLM (pretraining) or CLASSIFICATION (fine-tuning; regression when the config has one label)
 * @param masking the MLM masking; null for fine-tuning, which masks nothing
 */
public record TrainPlan(MosaicBert.Objective objective, ModelConfig config, DecoupledAdamW.Hyper hyper,
    Batching batching, LinearWithWarmup schedule, MlmMasking masking, Checkpointing checkpointing, long seed)
    implements Serializable {

  public TrainPlan {
    if (objective == MosaicBert.Objective.ENCODE) {
      throw new IllegalArgumentException("training needs a loss: objective MLM or CLASSIFICATION");
    }
    if (objective == MosaicBert.Objective.MLM && masking == null) {
      throw new IllegalArgumentException("MLM training needs its masking");
    }
  }

  /**
   * How a step's samples are split: {@code globalBatchSize} sequences per optimizer step, an equal share per worker,
   * run in micro-batches of at most {@code microBatchSize} sequences and at most {@code microBatchTokens} tokens.
   * Long sequences are what the token bound is for: activations grow with the tokens of a micro-batch, so at 2,048
   * tokens a micro-batch of 128 sequences would need 16 times the memory of one at 128 tokens.
   *
   * @param longestSample no sample of the data is longer (the longest one collected, or the shards' tokenization
   *     ceiling): with the micro-batch, it sizes the activations
   * @param microBatchTokens the most tokens of one micro-batch; at least {@code longestSample} (a sample is never
   *     cut), at most {@code microBatchSize * longestSample} (where it no longer binds)
   */
  public record Batching(int globalBatchSize, int microBatchSize, int workers, int longestSample,
      int microBatchTokens) implements Serializable {
    public Batching {
      if (workers < 1 || globalBatchSize % workers != 0) {
        throw new IllegalArgumentException("globalBatchSize " + globalBatchSize + " is not a multiple of numWorkers "
            + workers + ": every worker takes the same share of each step");
      }
      if (microBatchSize < 1 || microBatchSize > globalBatchSize / workers) {
        throw new IllegalArgumentException("microBatchSize must be in 1.." + globalBatchSize / workers
            + " (the per-worker batch), got " + microBatchSize);
      }
      if (longestSample < 1) {
        throw new IllegalArgumentException("longestSample must be at least 1, got " + longestSample);
      }
      if (microBatchTokens < longestSample || microBatchTokens > (long) microBatchSize * longestSample) {
        throw new IllegalArgumentException("microBatchTokens must be in " + longestSample + ".."
            + (long) microBatchSize * longestSample + " (from the longest sample, which is never cut, to microBatchSize "
            + "x longest sample), got " + microBatchTokens);
      }
    }

    /**
     * The one place a micro-batch is adjusted, with a log line each time: one larger than a worker's share of the
     * global batch is lowered to that share; a token bound of 0 (none asked) or one that cannot bind becomes
     * {@code microBatchSize * longestSample}. A bound below the longest sample is refused, not raised: it was asked
     * for because memory is short.
     */
    public static Batching of(int globalBatchSize, int requestedMicroBatch, int workers, int longestSample,
        int requestedTokens) {
      int share = globalBatchSize / Math.max(1, workers);
      int micro = Math.min(requestedMicroBatch, share);
      if (requestedMicroBatch > share) {
        LoggerFactory.getLogger(TrainPlan.class).info("microBatchSize {} is more than a worker's share of the "
            + "global batch ({} / {} workers): each worker runs micro-batches of {}", requestedMicroBatch,
            globalBatchSize, workers, share);
      }
      long most = (long) micro * longestSample;
      if (requestedTokens > 0 && requestedTokens < longestSample) {
        throw new IllegalArgumentException("microBatchTokens " + requestedTokens + " is less than the longest sample ("
            + longestSample + " tokens), which is never cut: raise microBatchTokens (--micro-batch-tokens) to at "
            + "least " + longestSample + " or lower max_seq_len");
      }
      int tokens = (int) Math.min(most, requestedTokens > 0 ? requestedTokens : Integer.MAX_VALUE);
      if (requestedTokens > 0) {
        LoggerFactory.getLogger(TrainPlan.class).info("micro-batches of at most {} sequences and {} tokens ({} "
            + "sequences of the longest sample, {} tokens)", micro, tokens, Math.max(1, tokens / longestSample),
            longestSample);
      }
      return new Batching(globalBatchSize, micro, workers, longestSample, tokens);
    }

    /** The sequences each worker runs per step. */
    public int perWorker() {
      return globalBatchSize / workers;
    }
  }

  /** When rank 0 writes: a checkpoint every {@code checkpointEvery} steps, a metrics line every {@code metricsEvery}. */
  public record Checkpointing(int checkpointEvery, int metricsEvery) implements Serializable {
    public Checkpointing {
      if (checkpointEvery < 1 || metricsEvery < 1) {
        throw new IllegalArgumentException("checkpointEvery and metricsEvery must be at least 1, got "
            + checkpointEvery + " and " + metricsEvery);
      }
    }
  }

  /** The optimizer steps of the run. */
  public long totalSteps() {
    return schedule.totalSteps();
  }

  /** The heads the trained model carries. */
  public ParameterLayout.Heads heads() {
    return objective == MosaicBert.Objective.MLM ? ParameterLayout.Heads.MLM : ParameterLayout.Heads.CLASSIFIER;
  }
}
