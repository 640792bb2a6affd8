package org.mosaicbert.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mosaicbert.train.TrainingSettings.ALPHA_F;
import static org.mosaicbert.train.TrainingSettings.CHECKPOINT_EVERY;
import static org.mosaicbert.train.TrainingSettings.GLOBAL_BATCH_SIZE;
import static org.mosaicbert.train.TrainingSettings.KEEP_CHECKPOINTS;
import static org.mosaicbert.train.TrainingSettings.LR;
import static org.mosaicbert.train.TrainingSettings.MAX_STEPS;
import static org.mosaicbert.train.TrainingSettings.METRICS_EVERY;
import static org.mosaicbert.train.TrainingSettings.MICRO_BATCH_SIZE;
import static org.mosaicbert.train.TrainingSettings.MICRO_BATCH_TOKENS;
import static org.mosaicbert.train.TrainingSettings.NUM_WORKERS;
import static org.mosaicbert.train.TrainingSettings.SEED;
import static org.mosaicbert.train.TrainingSettings.WARMUP_FRACTION;
import static org.mosaicbert.train.TrainingSettings.WEIGHT_DECAY;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.collective.Collective;
import org.mosaicbert.collective.LoopbackRing;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.UnpaddedBatch;
import org.mosaicbert.testing.WeightComparison;

class DataParallelTrainerTest {
  @TempDir Path tmp;

  private static final ModelConfig TINY = new ModelConfig(64, 16, 2, 2, 32, 2, 1e-12, 0.1, 0, -1, 0.02, 2, null, 0, 64,
      64, null);

  static List<Sample> dataset(int n) {
    SplittableRandom rnd = new SplittableRandom(3);
    List<Sample> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int len = 4 + rnd.nextInt(12);
      int[] ids = new int[len];
      ids[0] = 2;
      ids[len - 1] = 3;
      for (int p = 1; p < len - 1; p++) {
        ids[p] = 5 + rnd.nextInt(59);
      }
      out.add(new Sample(i, ids));
    }
    return out;
  }

  static TrainPlan plan(int workers, int microBatch, int checkpointEvery) {
    return plan(workers, microBatch, checkpointEvery, 5e-3);
  }

  /** The masking tokens of the test vocabulary: [MASK] is 4, ids 0 to 4 are special. */
  static final MlmMasking.Tokens TOKENS = new MlmMasking.Tokens(4, 64, new int[] {0, 1, 2, 3, 4});

  /** 8 steps of 8 sequences, a quarter of them warming up, a metrics line each step. */
  static SettingValues settings(int workers, int microBatch, int checkpointEvery, double lr) {
    return SettingValues.defaults().with(GLOBAL_BATCH_SIZE, 8).with(MICRO_BATCH_SIZE, microBatch)
        .with(NUM_WORKERS, workers).with(LR, lr).with(WARMUP_FRACTION, 0.25).with(MAX_STEPS, 8L)
        .with(CHECKPOINT_EVERY, checkpointEvery).with(METRICS_EVERY, 1);
  }

  static TrainPlan plan(int workers, int microBatch, int checkpointEvery, double lr) {
    return new TrainPlan(MosaicBert.Objective.MLM, TINY, settings(workers, microBatch, checkpointEvery, lr), 0, 16,
        TOKENS);
  }

  private static TrainPlan.Batching batching(int global, int micro, int workers, int longestSample, int tokens) {
    return TrainPlan.Batching.of(SettingValues.defaults().with(GLOBAL_BATCH_SIZE, global).with(MICRO_BATCH_SIZE,
        micro).with(NUM_WORKERS, workers).with(MICRO_BATCH_TOKENS, tokens), longestSample);
  }

  /** One rank of {@code plan} on a single-threaded CPU backend, from weights drawn from the seed. */
  static float[] trainRank(TrainPlan plan, Collective collective, SampleStream stream, CheckpointStore store,
      StepHook hook) {
    return DataParallelTrainer.train(plan, new CpuBackend(1), collective, stream, InitialWeights.fromSeed(), store,
        hook);
  }

  private static float[] train(int workers, int microBatch, CheckpointStore store, StepHook hook) {
    List<float[]> results = LoopbackRing.run(workers, 30_000,
        c -> trainRank(plan(workers, microBatch, 3), c, SampleStream.inMemory(dataset(20), 17), store, hook));
    return results.get(0);
  }

  private static float[] train(int workers, int microBatch, CheckpointStore store) {
    return train(workers, microBatch, store, StepHook.NONE);
  }

  @Test
  void oneTwoAndFourWorkersReachTheSameWeights() {
    float[] one = train(1, 8, CheckpointStore.none());
    float[] oneMicro = train(1, 3, CheckpointStore.none());
    float[] two = train(2, 2, CheckpointStore.none());
    float[] four = train(4, 1, CheckpointStore.none());
    for (float[] other : List.of(oneMicro, two, four)) {
      double difference = WeightComparison.relativeDifference(one, other);
      assertTrue(difference < 1e-5, "relative difference " + difference);
    }
  }

  @Test
  void aResumedRunEndsWithBitIdenticalWeights() {
    float[] straight = train(2, 2, CheckpointStore.none());
    Path dir = tmp.resolve("ckpt");
    LocalCheckpointStore store = new LocalCheckpointStore(dir);
    StepHook failAtStep5 = (rank, step) -> {
      if (rank == 1 && step == 5) {
        throw new IllegalStateException("rank 1 fails at step 5");
      }
    };
    assertThrows(IllegalStateException.class, () -> train(2, 2, store, failAtStep5), "rank 1 fails at step 5");
    assertTrue(Files.exists(dir.resolve(LocalCheckpointStore.stepFolder(3)).resolve("DONE")));
    float[] resumed = train(2, 2, store);
    assertArrayEquals(straight, resumed, "resumed from step 3: the same bits as the uninterrupted run");
  }

  /**
   * keepCheckpoints bounds the disk a run takes: the newest checkpoints stay, older ones go, the weights do not
   * change.
   */
  @Test
  void onlyTheNewestCheckpointsAreKeptWhenAskedAndTheRunIsTheSame() throws java.io.IOException {
    Path dir = tmp.resolve("kept");
    TrainPlan keepTwo = new TrainPlan(MosaicBert.Objective.MLM, TINY, settings(1, 8, 2, 5e-3).with(KEEP_CHECKPOINTS, 2),
        0, 16, TOKENS);
    float[] kept = LoopbackRing.run(1, 30_000, c -> trainRank(keepTwo, c, SampleStream.inMemory(dataset(20), 17),
        new LocalCheckpointStore(dir), StepHook.NONE)).get(0);
    try (var folders = Files.list(dir)) {
      assertEquals(List.of(LocalCheckpointStore.stepFolder(6), LocalCheckpointStore.stepFolder(8)), folders
          .map(p -> p.getFileName().toString()).filter(n -> n.startsWith("step-")).sorted().toList());
    }
    float[] all = LoopbackRing.run(1, 30_000, c -> trainRank(plan(1, 8, 2), c, SampleStream.inMemory(dataset(20), 17),
        CheckpointStore.none(), StepHook.NONE)).get(0);
    assertArrayEquals(all, kept);
  }

  /** The trainer writes each checkpoint into a temporary folder and deletes it, whatever the store does with it. */
  @Test
  void checkpointFoldersAreDeletedAfterPublishing() {
    RecordingCheckpointStore store = new RecordingCheckpointStore();
    train(1, 8, store);
    assertEquals(3, store.published.size(), "8 steps, a checkpoint every 3 and at the end");
    assertEquals(3, store.publishedWithState, "the checkpoint is there when published");
    for (Path folder : store.published) {
      assertTrue(Files.notExists(folder), folder + " is left behind");
    }
  }

  /** A synthetic task: label 1 when token 7 occurs. Fine-tuning learns it, the same with 1 or 2 workers. */
  @Test
  void classificationFineTuningLearnsAndIsWorkerCountIndependent() {
    SplittableRandom rnd = new SplittableRandom(9);
    List<Sample> data = new ArrayList<>();
    for (int i = 0; i < 64; i++) {
      int len = 6 + rnd.nextInt(6);
      int[] ids = new int[len];
      int[] types = new int[len];
      ids[0] = 2;
      ids[len - 1] = 3;
      boolean positive = i % 2 == 0;
      for (int p = 1; p < len - 1; p++) {
        ids[p] = 8 + rnd.nextInt(56);
        types[p] = p > len / 2 ? 1 : 0;
      }
      if (positive) {
        ids[1 + rnd.nextInt(len - 2)] = 7;
      }
      data.add(new Sample(i, ids, types, positive ? 1f : 0f));
    }
    ModelConfig classifier = TINY.withHead(2);
    java.util.function.IntFunction<TrainPlan> plan = workers -> new TrainPlan(MosaicBert.Objective.CLASSIFICATION,
        classifier, SettingValues.defaults().with(LR, 3e-3).with(WEIGHT_DECAY, 0.0).with(GLOBAL_BATCH_SIZE, 16)
            .with(MICRO_BATCH_SIZE, 8 / workers).with(NUM_WORKERS, workers).with(WARMUP_FRACTION, 0.1)
            .with(MAX_STEPS, 120L).with(ALPHA_F, 0.0).with(CHECKPOINT_EVERY, 1000).with(METRICS_EVERY, 10)
            .with(SEED, 5L), 0, 16, null);
    RecordingCheckpointStore collect = new RecordingCheckpointStore();
    float[] one = LoopbackRing.run(1, 30_000,
        c -> trainRank(plan.apply(1), c, SampleStream.inMemory(data, 5), collect, StepHook.NONE)).get(0);
    StepMetrics last = collect.metrics.get(collect.metrics.size() - 1);
    assertTrue(last.accuracy() >= 0.9, "the classifier learns the rule: " + last);
    float[] two = LoopbackRing.run(2, 30_000,
        c -> trainRank(plan.apply(2), c, SampleStream.inMemory(data, 5), CheckpointStore.none(), StepHook.NONE))
        .get(0);
    double difference = WeightComparison.relativeDifference(one, two);
    assertTrue(difference < 1e-5, "2 workers: " + difference);
  }

  /**
   * A learning rate far too large: every rank stops at the first step that is not finite, naming it; every metrics
   * line is finite, no checkpoint holds that step, and the checkpoints before it stay. At 1e30 the weights grow until the loss is
   * NaN; at 1e39 (infinite in float32) the first update makes the weights themselves infinite, caught before they
   * are saved.
   */
  @Test
  void aDivergingRunStopsAtItsFirstNonFiniteStepOnEveryRankAndSavesNothingOfIt() {
    for (double lr : new double[] {1e30, 1e39}) {
      RecordingCheckpointStore store = new RecordingCheckpointStore();
      List<TrainingDiverged> stops = LoopbackRing.run(2, 30_000, c -> {
        try {
          trainRank(plan(2, 4, 1, lr), c, SampleStream.inMemory(dataset(20), 17), c.rank() == 0 ? store
              : CheckpointStore.none(), StepHook.NONE);
          return null;
        } catch (TrainingDiverged e) {
          return e;
        }
      });
      assertTrue(stops.get(0) != null && stops.get(1) != null, "lr " + lr + ": both ranks stop");
      long step = stops.get(0).step();
      assertEquals(step, stops.get(1).step(), "the same step on both ranks");
      String message = stops.get(0).getMessage();
      assertTrue(message.startsWith("step " + step + " of 8: the " + (lr == 1e30 ? "loss is NaN"
          : "weights after it are not finite")), message);
      assertTrue(message.contains("the newest checkpoint, if any, holds the last good weights"), message);
      assertEquals(step - 1, store.published.size(), "a checkpoint every step, up to the one before");
      for (StepMetrics line : store.metrics) {
        assertTrue(line.step() <= step && Double.isFinite(line.loss()) && Double.isFinite(line.gradientNorm()),
            line.toString());
      }
    }
  }

  @Test
  void theGlobalBatchMustSplitEvenly() {
    String message = assertThrows(IllegalArgumentException.class, () -> plan(3, 1, 1)).getMessage();
    assertTrue(message.contains("globalBatchSize 8 is not a multiple of numWorkers 3"), message);
    assertEquals(8, plan(4, 2, 1).batching().globalBatchSize());
  }

  /**
   * Micro-batches bounded by tokens: none holds more than the bound (nor more sequences than microBatchSize), every
   * sample of the slice is in one, and training reaches the weights of unbounded micro-batches (up to float order).
   */
  @Test
  void microBatchesBoundedByTokensHoldAtMostThatManyAndTrainTheSameModel() {
    TrainPlan bounded = new TrainPlan(MosaicBert.Objective.MLM, TINY, settings(1, 8, 3, 5e-3)
        .with(MICRO_BATCH_TOKENS, 30), 0, 16, TOKENS);
    SampleStream stream = SampleStream.inMemory(dataset(20), 17);
    for (long step = 0; step < 8; step++) {
      List<UnpaddedBatch> micro = DataParallelTrainer.microBatches(bounded, stream, step, 0);
      assertEquals(8, micro.stream().mapToInt(UnpaddedBatch::numSequences).sum(), "every sample, once");
      for (UnpaddedBatch batch : micro) {
        assertTrue(batch.nnz() <= 30 && batch.numSequences() <= 8, batch.nnz() + " tokens");
      }
      assertTrue(micro.size() > 1, "the bound cuts: 8 samples of 4 to 15 tokens are more than 30");
    }
    float[] unbounded = train(1, 8, CheckpointStore.none());
    float[] byTokens = LoopbackRing.run(1, 30_000, c -> trainRank(bounded, c, SampleStream.inMemory(dataset(20), 17),
        CheckpointStore.none(), StepHook.NONE)).get(0);
    double difference = WeightComparison.relativeDifference(unbounded, byTokens);
    assertTrue(difference < 1e-5, "relative difference " + difference);
  }

  @Test
  void aTokenBoundBelowTheLongestSampleIsRefusedNamingBoth() {
    String message = assertThrows(IllegalArgumentException.class, () -> batching(8, 8, 1, 512, 300))
        .getMessage();
    assertTrue(message.contains("microBatchTokens 300 is less than the longest sample (512 tokens)"), message);
    assertEquals(16 * 8, batching(8, 8, 1, 16, 0).microBatchTokens(), "no bound asked: none binds");
    assertEquals(16 * 8, batching(8, 8, 1, 16, 100_000).microBatchTokens(), "nor one too large");
  }

  @Test
  void aMicroBatchLargerThanAWorkersShareIsLoweredToIt() {
    assertEquals(4, batching(8, 32, 2, 16, 0).microBatchSize());
    assertEquals(3, batching(8, 3, 2, 16, 0).microBatchSize(), "a smaller one is kept");
  }
}
