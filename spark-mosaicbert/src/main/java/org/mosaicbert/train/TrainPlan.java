package org.mosaicbert.train;

import java.io.Serializable;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.slf4j.LoggerFactory;

/**
 * Everything every rank must agree on, fixed on the driver before training starts: what is trained, the run's
 * settings, and what follows from them and the data (how a step's samples are batched, the learning-rate schedule,
 * the masking for MLM). How and where the ranks run (backend, threads, collective) is not part
 * of it. Every part is read by name from the settings ({@link TrainingSettings}), so no two can be swapped.
 */
public final class TrainPlan implements Serializable {
  private final MosaicBert.Objective objective;
  private final ModelConfig config;
  private final SettingValues settings;
  private final DecoupledAdamW.Hyper hyper;
  private final Batching batching;
  private final LinearWithWarmup schedule;
  private final MlmMasking masking;

  /**
   * @param objective MLM (pretraining) or CLASSIFICATION (fine-tuning; regression when the config has one label)
   * @param epochSize the samples of one pass over the data, for a run measured in epochs
   * @param longestSample no sample of the data is longer (the longest one collected, or the shards' tokenization
   *     ceiling): with the micro-batch, it sizes the activations
   * @param maskTokens the vocabulary's [MASK] and special tokens, for MLM; null for fine-tuning, which masks nothing
   */
  public TrainPlan(MosaicBert.Objective objective, ModelConfig config, SettingValues settings, long epochSize,
      int longestSample, MlmMasking.Tokens maskTokens) {
    if (objective == MosaicBert.Objective.ENCODE) {
      throw new IllegalArgumentException("training needs a loss: objective MLM or CLASSIFICATION");
    }
    if ((objective == MosaicBert.Objective.MLM) != (maskTokens != null)) {
      throw new IllegalArgumentException("MLM training needs its mask tokens, and only MLM training masks");
    }
    config.requireTrainable("the model config");
    this.objective = objective;
    this.config = config;
    this.settings = settings;
    this.hyper = DecoupledAdamW.Hyper.of(settings);
    this.batching = Batching.of(settings, longestSample);
    this.schedule = LinearWithWarmup.of(settings, totalSteps(settings, epochSize));
    this.masking = maskTokens == null ? null : MlmMasking.of(settings, maskTokens);
  }

  /** The optimizer steps of a run: maxSteps when set, else maxEpochs passes over {@code epochSize} samples. */
  public static long totalSteps(SettingValues settings, long epochSize) {
    long steps = settings.get(TrainingSettings.MAX_STEPS);
    return steps > 0 ? steps : (long) Math.ceil(settings.get(TrainingSettings.MAX_EPOCHS) * epochSize
        / settings.get(TrainingSettings.GLOBAL_BATCH_SIZE));
  }

  public MosaicBert.Objective objective() {
    return objective;
  }

  public ModelConfig config() {
    return config;
  }

  /** The settings the plan was made from, which every checkpoint records. */
  public SettingValues settings() {
    return settings;
  }

  public DecoupledAdamW.Hyper hyper() {
    return hyper;
  }

  public Batching batching() {
    return batching;
  }

  public LinearWithWarmup schedule() {
    return schedule;
  }

  /** The MLM masking; null for fine-tuning. */
  public MlmMasking masking() {
    return masking;
  }

  /** Rank 0 writes a checkpoint every this many steps: as set, or a third of the run, at most 100. */
  public int checkpointEvery() {
    int every = settings.get(TrainingSettings.CHECKPOINT_EVERY);
    return every > 0 ? every : (int) Math.max(1, Math.min(100, totalSteps() / 3));
  }

  /** Rank 0 writes a metrics line every this many steps. */
  public int metricsEvery() {
    return settings.get(TrainingSettings.METRICS_EVERY);
  }

  /** The seed of initialisation, data order, masks and dropout. */
  public long seed() {
    return settings.get(TrainingSettings.SEED);
  }

  /** The optimizer steps of the run. */
  public long totalSteps() {
    return schedule.totalSteps();
  }

  /** The heads the trained model carries. */
  public ParameterLayout.Heads heads() {
    return objective == MosaicBert.Objective.MLM ? ParameterLayout.Heads.MLM : ParameterLayout.Heads.CLASSIFIER;
  }

  /**
   * How a step's samples are split: {@code globalBatchSize} sequences per optimizer step, an equal share per worker,
   * run in micro-batches of at most {@code microBatchSize} sequences and at most {@code microBatchTokens} tokens.
   * Long sequences are what the token bound is for: activations grow with the tokens of a micro-batch, so at 2,048
   * tokens a micro-batch of 128 sequences would need 16 times the memory of one at 128 tokens.
   */
  public static final class Batching implements Serializable {
    private final int globalBatchSize;
    private final int microBatchSize;
    private final int workers;
    private final int longestSample;
    private final int microBatchTokens;

    private Batching(int globalBatchSize, int microBatchSize, int workers, int longestSample, int microBatchTokens) {
      this.globalBatchSize = globalBatchSize;
      this.microBatchSize = microBatchSize;
      this.workers = workers;
      this.longestSample = longestSample;
      this.microBatchTokens = microBatchTokens;
    }

    /**
     * The batching of a run, and the one place a micro-batch is adjusted, with a log line each time: 0 asks for a
     * worker's whole share of the global batch, and one larger than that share is lowered to it; a token bound of 0
     * (none asked) or one that cannot bind becomes {@code microBatchSize * longestSample}. A bound below the longest
     * sample is refused, not raised: it was asked for because memory is short.
     *
     * @param longestSample no sample of the data is longer (a sample is never cut)
     */
    public static Batching of(SettingValues settings, int longestSample) {
      int global = settings.get(TrainingSettings.GLOBAL_BATCH_SIZE);
      int workers = settings.get(TrainingSettings.NUM_WORKERS);
      int requestedMicro = settings.get(TrainingSettings.MICRO_BATCH_SIZE);
      int requestedTokens = settings.get(TrainingSettings.MICRO_BATCH_TOKENS);
      if (workers > global) {
        throw new IllegalArgumentException("numWorkers " + workers + " is more than globalBatchSize " + global
            + ": every worker takes at least one sequence of each step; lower numWorkers or raise globalBatchSize");
      }
      if (global % workers != 0) {
        throw new IllegalArgumentException("globalBatchSize " + global + " is not a multiple of numWorkers " + workers
            + ": every worker takes the same share of each step");
      }
      if (longestSample < 1) {
        throw new IllegalArgumentException("longestSample must be at least 1, got " + longestSample);
      }
      int share = global / workers;
      int micro = requestedMicro == 0 ? share : Math.min(requestedMicro, share);
      if (requestedMicro > share) {
        LoggerFactory.getLogger(TrainPlan.class).info("microBatchSize {} is more than a worker's share of the "
            + "global batch ({} / {} workers): each worker runs micro-batches of {}", requestedMicro, global, workers,
            share);
      }
      if (requestedTokens > 0 && requestedTokens < longestSample) {
        throw new IllegalArgumentException("microBatchTokens " + requestedTokens + " is less than the longest sample ("
            + longestSample + " tokens), which is never cut: raise microBatchTokens (recipe key "
            + TrainingSettings.MICRO_BATCH_TOKENS.recipeKey() + ") to at least " + longestSample
            + " or lower maxSeqLen");
      }
      int tokens = (int) Math.min((long) micro * longestSample, requestedTokens > 0 ? requestedTokens
          : Integer.MAX_VALUE);
      if (requestedTokens > 0) {
        LoggerFactory.getLogger(TrainPlan.class).info("micro-batches of at most {} sequences and {} tokens ({} "
            + "sequences of the longest sample, {} tokens)", micro, tokens, Math.max(1, tokens / longestSample),
            longestSample);
      }
      return new Batching(global, micro, workers, longestSample, tokens);
    }

    public int globalBatchSize() {
      return globalBatchSize;
    }

    public int microBatchSize() {
      return microBatchSize;
    }

    public int workers() {
      return workers;
    }

    public int longestSample() {
      return longestSample;
    }

    /** The most tokens of one micro-batch: from the longest sample to {@code microBatchSize} x longest sample. */
    public int microBatchTokens() {
      return microBatchTokens;
    }

    /** The sequences each worker runs per step. */
    public int perWorker() {
      return globalBatchSize / workers;
    }
  }
}
