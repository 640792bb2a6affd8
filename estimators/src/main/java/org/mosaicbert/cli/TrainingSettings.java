package org.mosaicbert.cli;

import java.util.List;
import java.util.Set;
import org.mosaicbert.ml.DevicePlacement;
import org.mosaicbert.ml.MosaicBertEstimator;

/**
 * The settings every training run shares (optimizer, schedule, duration, batch, seed, workers), read through
 * {@link Settings} from their flags and MosaicML recipe keys and set on an estimator. Pretraining, fine-tuning and
 * GLUE differ only in their defaults.
 */
final class TrainingSettings {
  /** Flags with a value that every training subcommand takes. */
  static final Set<String> FLAGS = Set.of("recipe", "lr", "batch", "micro-batch", "micro-batch-tokens", "max-steps",
      "seed", "workers", "threads", "device", "ring-timeout");

  /** Help lines for {@link #FLAGS}. */
  static final String HELP = """
            --recipe FILE       a YAML recipe (keys as MosaicML's; flags override it, it overrides the defaults)
            --lr X              peak learning rate (recipe: optimizer.lr)
            --batch N           global batch, all workers together (recipe: global_train_batch_size)
            --micro-batch N     per-worker micro-batch (recipe: device_train_microbatch_size)
            --micro-batch-tokens N
                                at most N tokens per micro-batch, for long sequences (recipe:
                                device_train_microbatch_tokens; default: no bound beyond --micro-batch)
            --max-steps N       optimizer steps (recipe: max_duration as Nba, Nsp or Nep)
            --seed S            seed of initialisation, data order, masks and dropout (recipe: seed)
            --workers N         data-parallel workers, one Spark barrier task each (recipe: workers)
            --threads N         CPU threads per worker (recipe: threads_per_worker; default: cores / workers)
            --ring-timeout S    seconds a worker waits for a silent peer inside a step before the step fails
                                (recipe: ring_timeout_seconds; default 300)
            --device D          cpu, gpu or auto (recipe: device; default auto = the CPU until GPU training
                                through Spark has run; the CUDA backend passed scripts/gpu-check.sh on an H200)
          """;

  /** A kind of run's defaults. */
  record Defaults(double lr, double weightDecay, double alphaF, int batch, String duration) {}

  private TrainingSettings() {}

  /**
   * Sets the shared settings on {@code estimator}.
   *
   * @param samples the samples of one epoch (for max_duration in epochs or samples)
   * @return the optimizer steps of the run
   */
  static long configure(Settings s, MosaicBertEstimator estimator, Defaults defaults, long samples) {
    s.choice(null, "optimizer.name", "decoupled_adamw", List.of("decoupled_adamw"));
    s.choice(null, "scheduler.name", "linear_decay_with_warmup", List.of("linear_decay_with_warmup"));
    int workers = s.integer("workers", "workers", 1, 1);
    int batch = s.integer("batch", "global_train_batch_size", defaults.batch(), workers);
    int micro = s.integer("micro-batch", "device_train_microbatch_size", batch / workers, 1);
    int cores = Runtime.getRuntime().availableProcessors();
    List<Double> betas = s.numbers(null, "optimizer.betas", List.of(0.9, 0.98));
    if (betas.size() != 2 || betas.stream().anyMatch(b -> b < 0 || b >= 1)) {
      throw new UsageException("recipe key optimizer.betas must be two numbers in [0, 1), got " + betas);
    }
    String duration = s.text(null, "max_duration", defaults.duration());
    long steps = s.integer("max-steps", null, Recipe.steps(duration, batch, samples), 1);
    estimator.setNumWorkers(workers)
        .setThreadsPerWorker(s.integer("threads", "threads_per_worker", Math.max(1, cores / workers), 1))
        .setGlobalBatchSize(batch).setMicroBatchSize(micro)
        .setMicroBatchTokens(s.integer("micro-batch-tokens", "device_train_microbatch_tokens", 0, 0))
        .setMaxSteps(steps)
        .setLr(s.number("lr", "optimizer.lr", defaults.lr(), Double.MIN_VALUE, 1))
        .setBeta1(betas.get(0)).setBeta2(betas.get(1))
        .setEps(s.number(null, "optimizer.eps", 1e-6, Double.MIN_VALUE, 1))
        .setWeightDecay(s.number(null, "optimizer.weight_decay", defaults.weightDecay(), 0, 1))
        .setWarmupFraction(Recipe.fraction(s.text(null, "scheduler.t_warmup", "0.06dur")))
        .setAlphaF(s.number(null, "scheduler.alpha_f", defaults.alphaF(), 0, 1))
        .setSeed(s.longValue("seed", "seed", 17))
        .setDevice(s.choice("device", "device", "auto", List.of(DevicePlacement.paramValues())))
        .setMetricsEvery(s.integer(null, "metrics_every", 10, 1))
        .setCheckpointEvery(s.integer(null, "checkpoint_every", (int) Math.max(1, Math.min(100, steps / 3)), 1))
        .setRingTimeoutSeconds(s.integer("ring-timeout", "ring_timeout_seconds",
            (Integer) estimator.getDefault(estimator.ringTimeoutSeconds()).get(), 1));
    return steps;
  }
}
