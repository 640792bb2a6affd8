package org.mosaicbert.train;

import static org.mosaicbert.train.Setting.Range.above;
import static org.mosaicbert.train.Setting.Range.atLeast;
import static org.mosaicbert.train.Setting.Range.between;
import static org.mosaicbert.train.Setting.Range.strictlyBetween;
import static org.mosaicbert.train.Setting.Range.upTo;

import java.util.List;
import java.util.Map;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.train.Setting.RecipeForm;
import org.mosaicbert.train.Setting.Run;

/**
 * The training settings, each declared once: estimator param, recipe key, flag, default, valid values, doc. The
 * defaults are MosaicBERT-Base pretraining's (docs/model.md §3) where they fit a small run; a kind of run with other
 * defaults (fine-tuning's are the GLUE recipe's) gives them where it runs. The command line reads a setting only in
 * the kinds of run it names ({@code onlyIn}): fine-tuning writes no checkpoints, so it takes no checkpoint interval.
 * Resolution order everywhere: a flag, then a recipe, then the kind of run's default, then the default here. Adding a
 * setting: declare it here, add it to {@link #ALL}, give it its accessor and setter on the estimator, and use it.
 */
public final class TrainingSettings {
  private TrainingSettings() {}

  public static final Setting<String> OBJECTIVE = Setting.text("objective", "objective", "objective", "mlm",
      List.of("mlm", "classification", "regression"), "what to train: mlm (pretraining), classification or regression "
          + "(fine-tuning)").onlyIn(Run.FINETUNING);
  public static final Setting<String> MODEL_CONFIG = Setting.text("modelConfig", "model.preset", "preset", "tiny",
      List.of(), "the model: a preset (" + String.join(", ", ModelConfig.PRESETS) + ") or the path of a config.json")
      .onlyIn(Run.PRETRAINING);
  public static final Setting<Integer> NUM_LABELS = Setting.integer("numLabels", "model.num_labels", "num-labels", 0,
      atLeast(0), "classes of a classification head (0: from the data)").onlyIn(Run.FINETUNING);
  public static final Setting<Integer> MAX_SEQ_LEN = Setting.integer("maxSeqLen", "max_seq_len", "max-seq-len", 256,
      atLeast(2), "longest sequence in tokens, [CLS] and [SEP] included: texts are cut to it, longer token ids are "
          + "refused; pretraining shards are cut at their own, which this must equal");
  public static final Setting<Integer> NUM_WORKERS = Setting.integer("numWorkers", "workers", "workers", 1,
      atLeast(1), "data-parallel workers, one Spark barrier task each");
  public static final Setting<String> DEVICE = Setting.text("device", "device", "device", "auto",
      List.of("auto", "cpu", "gpu"), "what each worker trains on, and each scoring task scores on: cpu, gpu, or "
          + "auto (the CPU until GPU training through Spark has run on a GPU)");
  public static final Setting<Integer> GLOBAL_BATCH_SIZE = Setting.integer("globalBatchSize",
      "global_train_batch_size", "batch", 32, atLeast(1), "sequences per optimizer step, all workers together");
  public static final Setting<Integer> MICRO_BATCH_SIZE = Setting.integer("microBatchSize",
      "device_train_microbatch_size", "micro-batch", 0, atLeast(0), "sequences per forward/backward pass of one "
          + "worker, at most its share of the global batch (0: that whole share)");
  public static final Setting<Integer> MICRO_BATCH_TOKENS = Setting.integer("microBatchTokens",
      "device_train_microbatch_tokens", "micro-batch-tokens", 0, atLeast(0), "the most tokens of one forward/backward "
          + "pass, for long sequences; at least the longest sample (0: no bound beyond the micro-batch)");
  public static final Setting<Long> MAX_STEPS = Setting.longInteger("maxSteps", "max_duration", "max-steps", 0L,
      between(0, Integer.MAX_VALUE), "optimizer steps (0: the epochs decide)").writtenAs(RecipeForm.DURATION_STEPS);
  public static final Setting<Double> MAX_EPOCHS = Setting.real("maxEpochs", "max_duration", "max-epochs", 1.0,
      above(0), "passes over the data, when the steps are 0").writtenAs(RecipeForm.DURATION_EPOCHS);
  public static final Setting<Double> LR = Setting.real("lr", "optimizer.lr", "lr", 5e-4, above(0),
      "peak learning rate");
  public static final Setting<Double> BETA1 = Setting.real("beta1", "optimizer.betas", "beta1", 0.9, upTo(0, 1),
      "Adam's beta1").writtenAs(RecipeForm.FIRST_OF_PAIR);
  public static final Setting<Double> BETA2 = Setting.real("beta2", "optimizer.betas", "beta2", 0.98, upTo(0, 1),
      "Adam's beta2").writtenAs(RecipeForm.SECOND_OF_PAIR);
  public static final Setting<Double> EPS = Setting.real("eps", "optimizer.eps", "eps", 1e-6, above(0),
      "Adam's epsilon");
  public static final Setting<Double> WEIGHT_DECAY = Setting.real("weightDecay", "optimizer.weight_decay",
      "weight-decay", 1e-5, atLeast(0), "decoupled weight decay, scaled by the schedule");
  public static final Setting<Double> WARMUP_FRACTION = Setting.real("warmupFraction", "scheduler.t_warmup", "warmup",
      0.06, between(0, 1), "share of the steps spent warming up").writtenAs(RecipeForm.SHARE_OF_RUN);
  public static final Setting<Double> ALPHA_F = Setting.real("alphaF", "scheduler.alpha_f", "alpha-f", 0.02,
      between(0, 1), "the learning rate's final factor");
  public static final Setting<Double> MASK_PROBABILITY = Setting.real("maskProbability", "mlm_probability",
      "mlm-probability", 0.3, strictlyBetween(0, 1), "share of tokens masked (MosaicBERT: 30%)")
      .onlyIn(Run.PRETRAINING);
  public static final Setting<Long> SEED = Setting.longInteger("seed", "seed", "seed", 17L, Setting.Range.ANY,
      "seed of initialisation, data order, masks and dropout").onlyIn(Run.PRETRAINING, Run.FINETUNING);
  public static final Setting<Integer> CHECKPOINT_EVERY = Setting.integer("checkpointEvery", "checkpoint_every",
      "checkpoint-every", 0, atLeast(0), "steps between checkpoints (0: a third of the run, at most 100)")
      .freeOnResume().onlyIn(Run.PRETRAINING);
  public static final Setting<Integer> KEEP_CHECKPOINTS = Setting.integer("keepCheckpoints", "keep_checkpoints",
      "keep-checkpoints", 0, atLeast(0), "complete checkpoints kept, the newest ones (0: every one); keep 2 or more, "
          + "so that a damaged newest one leaves another to resume from").freeOnResume().onlyIn(Run.PRETRAINING);
  public static final Setting<Integer> METRICS_EVERY = Setting.integer("metricsEvery", "metrics_every",
      "metrics-every", 10, atLeast(1), "steps between metrics lines").freeOnResume().onlyIn(Run.PRETRAINING);
  public static final Setting<Integer> RING_TIMEOUT_SECONDS = Setting.integer("ringTimeoutSeconds",
      "ring_timeout_seconds", "ring-timeout", 300, atLeast(1), "seconds a worker waits for a silent peer inside a "
          + "step before the step fails").freeOnResume();
  public static final Setting<Integer> THREADS_PER_WORKER = Setting.integer("threadsPerWorker", "threads_per_worker",
      "threads", 1, between(1, CpuBackend.MAX_THREADS), "CPU threads of each worker: a barrier task of fit, a "
          + "scoring task of transform (set spark.task.cpus to it)").freeOnResume();

  /** Every setting, in the order they resolve (a setting's recipe form may read those before it). */
  public static final List<Setting<?>> ALL = List.of(OBJECTIVE, MODEL_CONFIG, NUM_LABELS, MAX_SEQ_LEN, NUM_WORKERS,
      DEVICE, GLOBAL_BATCH_SIZE, MICRO_BATCH_SIZE, MICRO_BATCH_TOKENS, MAX_STEPS, MAX_EPOCHS, LR, BETA1, BETA2, EPS,
      WEIGHT_DECAY, WARMUP_FRACTION, ALPHA_F, MASK_PROBABILITY, SEED, CHECKPOINT_EVERY, KEEP_CHECKPOINTS, METRICS_EVERY,
      RING_TIMEOUT_SECONDS, THREADS_PER_WORKER);

  /**
   * Recipe keys that name the one choice this project implements, kept so MosaicML's recipes read as they are: any
   * other value is an error.
   */
  public static final Map<String, String> FIXED_RECIPE_KEYS = Map.of("optimizer.name", "decoupled_adamw",
      "scheduler.name", "linear_decay_with_warmup");

  /** The setting of param {@code name}, or null. */
  public static Setting<?> byParam(String name) {
    return ALL.stream().filter(s -> s.param().equals(name)).findFirst().orElse(null);
  }
}
