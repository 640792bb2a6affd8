package org.mosaicbert.backend.cuda;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.collective.Collective;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.train.CheckpointStore;
import org.mosaicbert.train.DataParallelTrainer;
import org.mosaicbert.train.InitialWeights;
import org.mosaicbert.train.MlmMasking;
import org.mosaicbert.train.Sample;
import org.mosaicbert.train.RecordingCheckpointStore;
import org.mosaicbert.train.SampleStream;
import org.mosaicbert.train.SettingValues;
import org.mosaicbert.train.StepMetrics;
import org.mosaicbert.train.TrainPlan;
import org.mosaicbert.train.TrainingSettings;

/**
 * The same short MLM run through {@link DataParallelTrainer} on the CPU backend and on the CUDA backend: a tiny
 * model, Zipf-distributed tokens (so that the loss falls), steps of several micro-batches whose masked-token counts
 * differ, checkpoints written along the way. The loss of every step, side by side.
 */
record TrainingComparison(TrainPlan plan, double[] cpu, double[] gpu, double cpuTokensPerSecond,
    double gpuTokensPerSecond) {
  /** The CPU side's threads: all the machine has. */
  private static final int CPU_THREADS = Runtime.getRuntime().availableProcessors();

  /** One run on the CUDA side: the trainer with whatever backend and collective the caller opens (and closes). */
  interface GpuRun {
    void train(TrainPlan plan, SampleStream stream, CheckpointStore store);
  }

  static TrainingComparison run(int steps, int vocab, int numSamples, int maxLen, int batch, int microBatch,
      GpuRun gpu) {
    ModelConfig config = ModelConfig.preset("tiny", vocab);
    SplittableRandom rnd = new SplittableRandom(5);
    double[] zipf = new double[vocab];
    for (int t = 5; t < vocab; t++) {
      zipf[t] = zipf[t - 1] + 1.0 / (t - 4);
    }
    List<Sample> samples = new ArrayList<>();
    for (int i = 0; i < numSamples; i++) {
      int[] ids = new int[8 + rnd.nextInt(maxLen - 7)];
      ids[0] = 2;
      ids[ids.length - 1] = 3;
      for (int p = 1; p < ids.length - 1; p++) {
        int at = Arrays.binarySearch(zipf, rnd.nextDouble() * zipf[vocab - 1]);
        ids[p] = Math.max(5, at < 0 ? -at - 1 : at);
      }
      samples.add(new Sample(i, ids));
    }
    SettingValues settings = SettingValues.defaults().with(TrainingSettings.LR, 2e-3)
        .with(TrainingSettings.GLOBAL_BATCH_SIZE, batch).with(TrainingSettings.MICRO_BATCH_SIZE, microBatch)
        .with(TrainingSettings.WARMUP_FRACTION, 0.1).with(TrainingSettings.MAX_STEPS, (long) steps)
        .with(TrainingSettings.CHECKPOINT_EVERY, Math.max(1, steps / 2)).with(TrainingSettings.METRICS_EVERY, 1);
    TrainPlan plan = new TrainPlan(MosaicBert.Objective.MLM, config, settings, samples.size(), maxLen,
        new MlmMasking.Tokens(4, vocab, new int[] {0, 1, 2, 3, 4}));
    double[][] curves = new double[2][];
    double[] tokensPerSecond = new double[2];
    for (int run = 0; run < 2; run++) {
      RecordingCheckpointStore store = new RecordingCheckpointStore();
      SampleStream stream = SampleStream.inMemory(samples, 17);
      if (run == 0) {
        DataParallelTrainer.train(plan, new CpuBackend(CPU_THREADS), Collective.single(), stream,
            InitialWeights.fromSeed(), store);
      } else {
        gpu.train(plan, stream, store);
      }
      curves[run] = store.metrics.stream().mapToDouble(StepMetrics::loss).toArray();
      tokensPerSecond[run] = store.metrics.stream().skip(steps / 2).mapToDouble(StepMetrics::tokensPerSecond)
          .average().orElse(0);
    }
    return new TrainingComparison(plan, curves[0], curves[1], tokensPerSecond[0], tokensPerSecond[1]);
  }

  /** The largest relative difference of a step's loss. */
  double worstDifference() {
    double worst = 0;
    for (int i = 0; i < cpu.length; i++) {
      worst = Math.max(worst, Math.abs(gpu[i] - cpu[i]) / cpu[i]);
    }
    return worst;
  }

  /** Every step's loss within 3% of the CPU's (bf16 against float32), and the CUDA run's loss fallen by minFall. */
  boolean passes(double minFall) {
    return gpu.length == cpu.length && worstDifference() <= 0.03 && gpu[gpu.length - 1] < gpu[0] - minFall;
  }

  /** One line: the largest difference and the loss's fall. */
  String summary() {
    return String.format(java.util.Locale.ROOT, "%d steps: largest loss difference to the CPU %.2f%%, loss %.3f -> "
        + "%.3f; %.0f tokens/s (CPU %.0f)", cpu.length, 100 * worstDifference(), gpu[0], gpu[gpu.length - 1],
        gpuTokensPerSecond, cpuTokensPerSecond);
  }

  void print(PrintStream out, String what) {
    out.println("training, tiny MLM, CPU backend vs " + what + " (loss per step):");
    for (int i = 0; i < cpu.length; i++) {
      if (i < 3 || (i + 1) % 10 == 0 || i == cpu.length - 1) {
        out.printf("  step %3d: cpu %.4f  cuda %.4f  (%.2f%%)%n", i + 1, cpu[i], gpu[i],
            100 * Math.abs(gpu[i] - cpu[i]) / cpu[i]);
      }
    }
    out.printf("largest loss difference %.2f%%, loss %.3f -> %.3f; %.0f tokens/s on the CUDA side, %.0f on the CPU "
        + "(%d threads), second half of the run%n", 100 * worstDifference(), gpu[0], gpu[gpu.length - 1],
        gpuTokensPerSecond, cpuTokensPerSecond, CPU_THREADS);
  }
}
