package org.mosaicbert.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.model.UnpaddedBatch;

class TrainingPiecesTest {
  @TempDir Path tmp;

  private static final ModelConfig TINY = new ModelConfig(64, 16, 2, 2, 32, 2, 1e-12, 0.1, 0, -1, 0.02, 2, null, 0, 64,
      64, null);

  private static List<Sample> samples(int n, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<Sample> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int len = 3 + rnd.nextInt(12);
      int[] ids = new int[len];
      ids[0] = 2;
      ids[len - 1] = 3;
      for (int p = 1; p < len - 1; p++) {
        ids[p] = 5 + rnd.nextInt(59);
      }
      out.add(new Sample(100 + i, ids));
    }
    return out;
  }

  private static MlmMasking masking() {
    return MlmMasking.of(SettingValues.defaults(), new MlmMasking.Tokens(4, 64, new int[] {0, 1, 2, 3, 4}));
  }

  @Test
  void maskingIsAPureFunctionOfSeedStepAndSample() {
    MlmMasking masking = masking();
    int[] ids = new int[200];
    java.util.Arrays.fill(ids, 9);
    ids[0] = 2;
    ids[199] = 3;
    MlmMasking.Masked a = masking.apply(ids, 0, 42);
    assertArrayEquals(a.labels(), masking.apply(ids, 0, 42).labels());
    assertTrue(!java.util.Arrays.equals(a.labels(), masking.apply(ids, 1, 42).labels()), "another step, other masks");
    assertEquals(MlmMasking.NO_LABEL, a.labels()[0], "[CLS] is never masked");
    assertEquals(MlmMasking.NO_LABEL, a.labels()[199], "[SEP] is never masked");
    long chosen = java.util.Arrays.stream(a.labels()).filter(l -> l != MlmMasking.NO_LABEL).count();
    assertTrue(chosen > 35 && chosen < 85, "about 30% of 198: " + chosen);
  }

  /** Only the special ids are never chosen: a chosen token of id 0 that is not special is scored, with label 0. */
  @Test
  void aMaskedTokenWhoseIdIsZeroKeepsItsLabel() {
    MlmMasking zeroIsNotSpecial = MlmMasking.of(SettingValues.defaults(), new MlmMasking.Tokens(4, 64,
        new int[] {1, 2, 3, 4}));
    int[] ids = new int[40];
    ids[0] = 2;
    ids[39] = 3;
    int[] labels = zeroIsNotSpecial.apply(ids, 0, 42).labels();
    List<Integer> chosen = new ArrayList<>();
    for (int p = 0; p < ids.length; p++) {
      if (labels[p] != MlmMasking.NO_LABEL) {
        chosen.add(p);
      }
    }
    assertTrue(chosen.size() > 3, "about 30% of the 38 zeros are chosen: " + chosen);
    UnpaddedBatch batch = Batches.mlm(List.of(new Sample(42, ids)), zeroIsNotSpecial, 0);
    assertArrayEquals(chosen.stream().mapToInt(Integer::intValue).toArray(), batch.maskedRows(),
        "every chosen position is a scored row");
    assertArrayEquals(new int[chosen.size()], batch.mlmLabels(), "each with its original id, 0");
  }

  @Test
  void theScheduleWarmsUpThenDecaysToAlphaF() {
    LinearWithWarmup s = LinearWithWarmup.of(SettingValues.defaults().with(TrainingSettings.WARMUP_FRACTION, 0.06)
        .with(TrainingSettings.ALPHA_F, 0.02), 1000);
    assertEquals(60, s.warmupSteps());
    assertEquals(0.0, s.factor(0));
    assertEquals(0.5, s.factor(30), 1e-12);
    assertEquals(1.0, s.factor(60), 1e-12);
    assertEquals(0.51, s.factor(530), 1e-12);
    assertEquals(0.02, s.factor(1000), 1e-12);
  }

  /** Gradients of one batch equal the sum over its micro-batches when each divides by the global masked count. */
  @Test
  void microBatchingDoesNotChangeTheGradient() {
    List<Sample> samples = samples(6, 1);
    MosaicBert.Randomness randomness = new MosaicBert.Randomness(5, 0);
    UnpaddedBatch whole = Batches.mlm(samples, masking(), 0);
    try (MosaicBert model = new MosaicBert(TINY, ParameterLayout.Heads.MLM, new CpuBackend(2),
        new MosaicBert.Capacity(128, 8, 16, 64))) {
      model.setAllParameters(ModelWeights.initial(model.layout(), TINY, 9));
      model.zeroGradients();
      MosaicBert.Loss loss = model.forward(whole, MosaicBert.Objective.MLM, randomness);
      model.backward(loss.count());
      float[] expected = model.gradient("bert.encoder.layer.0.attention.self.Wqkv.weight");
      model.zeroGradients();
      for (List<Sample> part : List.of(samples.subList(0, 2), samples.subList(2, 5), samples.subList(5, 6))) {
        model.forward(Batches.mlm(part, masking(), 0), MosaicBert.Objective.MLM, randomness);
        model.backward(loss.count());
      }
      float[] actual = model.gradient("bert.encoder.layer.0.attention.self.Wqkv.weight");
      for (int i = 0; i < expected.length; i++) {
        assertEquals(expected[i], actual[i], 1e-6 + 1e-4 * Math.abs(expected[i]), "element " + i);
      }
    }
  }

  private static float[] train(int steps, Path checkpointAt, int checkpointStep, Path resumeFrom) throws IOException {
    List<Sample> samples = samples(8, 2);
    try (MosaicBert model = new MosaicBert(TINY, ParameterLayout.Heads.MLM, new CpuBackend(2),
        new MosaicBert.Capacity(128, 8, 16, 64))) {
      model.setAllParameters(ModelWeights.initial(model.layout(), TINY, 9));
      SettingValues settings = SettingValues.defaults().with(TrainingSettings.LR, 1e-2)
          .with(TrainingSettings.WARMUP_FRACTION, 0.2).with(TrainingSettings.SEED, 5L);
      DecoupledAdamW adamw = new DecoupledAdamW(model.backend(), model.layout().size(),
          DecoupledAdamW.Hyper.of(settings));
      LinearWithWarmup schedule = LinearWithWarmup.of(settings, steps);
      int start = 0;
      if (resumeFrom != null) {
        TrainState.Loaded state = TrainState.read(resumeFrom);
        model.backend().upload(model.parameters().at(0), state.params(), 0, state.params().length);
        adamw.restore(state.m(), state.v(), state.step());
        start = state.step();
      }
      for (int step = start; step < steps; step++) {
        UnpaddedBatch batch = Batches.mlm(samples, masking(), step);
        model.zeroGradients();
        MosaicBert.Loss loss = model.forward(batch, MosaicBert.Objective.MLM, new MosaicBert.Randomness(5, step));
        model.backward(loss.count());
        adamw.step(model.parameters(), model.gradients(), schedule.factor(step));
        if (checkpointAt != null && step + 1 == checkpointStep) {
          TrainState.write(checkpointAt, model.backend(), model.parameters(), adamw, settings);
        }
      }
      float[] out = new float[(int) model.layout().size()];
      model.backend().download(out, 0, model.parameters().at(0), out.length);
      return out;
    }
  }

  @Test
  void trainingIsBitIdenticalAcrossRunsAndAcrossACheckpointResume() throws IOException {
    float[] straight = train(6, tmp.resolve("ckpt"), 3, null);
    assertArrayEquals(straight, train(6, null, 0, null), "same seed, same data: the same weights, bit for bit");
    assertArrayEquals(straight, train(6, null, 0, tmp.resolve("ckpt")), "resumed at step 3: the same weights");
  }

  @Test
  void aDamagedCheckpointIsRefused() throws IOException {
    train(2, tmp.resolve("ckpt"), 2, null);
    Path file = tmp.resolve("ckpt").resolve(TrainState.FILE);
    byte[] bytes = Files.readAllBytes(file);
    bytes[bytes.length - 1] ^= 1;
    Files.write(file, bytes);
    String message = assertThrows(IllegalArgumentException.class, () -> TrainState.read(tmp.resolve("ckpt")))
        .getMessage();
    assertTrue(message.contains("does not match its checksum"), message);
  }
}
