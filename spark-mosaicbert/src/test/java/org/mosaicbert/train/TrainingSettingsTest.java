package org.mosaicbert.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.MosaicBert;

/** The table of training settings and the values of a run, as the engine sees them. */
class TrainingSettingsTest {
  @Test
  void eachSettingIsDeclaredOnceUnderItsOwnParamFlagAndDefault() {
    Set<String> params = new HashSet<>();
    Set<String> flags = new HashSet<>();
    for (Setting<?> s : TrainingSettings.ALL) {
      assertTrue(params.add(s.param()), "param " + s.param() + " twice");
      assertTrue(flags.add(s.flag()), "flag " + s.flag() + " twice");
      assertEquals(s.defaultValue(), s.check(s.defaultValue()), s + "'s default passes its own check");
      assertTrue(!s.doc().isBlank(), s + " has a doc");
    }
  }

  @Test
  void aValueOutOfItsRangeIsRefusedNamingTheSettingAndTheRange() {
    SettingValues values = SettingValues.defaults();
    assertEquals("lr = -1 must be above 0", assertThrows(IllegalArgumentException.class,
        () -> values.with(TrainingSettings.LR, -1.0)).getMessage());
    assertEquals("beta2 = 1 must be in [0, 1)", assertThrows(IllegalArgumentException.class,
        () -> values.with(TrainingSettings.BETA2, 1.0)).getMessage());
    assertEquals("globalBatchSize = 2.5 must be a whole number of magnitude below 2147483647",
        assertThrows(IllegalArgumentException.class, () -> values.with(TrainingSettings.GLOBAL_BATCH_SIZE, 2.5))
            .getMessage());
    assertEquals("device = 'tpu' must be one of [auto, cpu, gpu]", assertThrows(IllegalArgumentException.class,
        () -> values.with(TrainingSettings.DEVICE, "tpu")).getMessage());
    assertEquals(9_007_199_254_740_993L, values.with(TrainingSettings.SEED, "9007199254740993")
        .get(TrainingSettings.SEED), "a seed beyond 2^53 is taken exactly");
    assertTrue(assertThrows(IllegalArgumentException.class, () -> values.with(TrainingSettings.SEED,
        "99999999999999999999")).getMessage().startsWith("seed = 100000000000000000000 must be a whole number"),
        "not clamped to Long.MAX_VALUE");
  }

  @Test
  void aResumeComparesEverySettingButThoseFreeToChange() {
    SettingValues then = SettingValues.defaults();
    Map<String, String> recorded = then.recorded();
    SettingValues now = then.with(TrainingSettings.LR, 1e-3).with(TrainingSettings.SEED, 18L)
        .with(TrainingSettings.THREADS_PER_WORKER, 8).with(TrainingSettings.CHECKPOINT_EVERY, 5);
    assertEquals(List.of("lr: 5.0E-4 in the checkpoint, 0.001 now", "seed: 17 in the checkpoint, 18 now"),
        now.changesFrom(recorded));
    assertEquals(List.of(), then.changesFrom(recorded));
    assertEquals(List.of("seed: 17 in the checkpoint, 18 now"), now.with(TrainingSettings.LR, 5e-4)
        .changesFrom(Map.of("seed", "17")), "a checkpoint written before settings were recorded has its seed");
  }

  @Test
  void aConfigWithAttentionDropoutIsNotTrainedButRefusedNamingTheKey() {
    ModelConfig tiny = ModelConfig.preset("tiny", 64);
    ModelConfig dropout = new ModelConfig(64, 128, 2, 2, 256, 2, 1e-12, 0.1, 0.1, -1, 0.02, 2, null, 0, 512, 512,
        null);
    MlmMasking.Tokens tokens = new MlmMasking.Tokens(4, 64, new int[] {0, 1, 2, 3, 4});
    SettingValues settings = SettingValues.defaults().with(TrainingSettings.MAX_STEPS, 1L);
    new TrainPlan(MosaicBert.Objective.MLM, tiny, settings, 8, 16, tokens);
    String message = assertThrows(IllegalArgumentException.class,
        () -> new TrainPlan(MosaicBert.Objective.MLM, dropout, settings, 8, 16, tokens)).getMessage();
    assertTrue(message.contains("attention_probs_dropout_prob = 0.1") && message.contains("Set "
        + "\"attention_probs_dropout_prob\": 0.0"), message);
  }

  @Test
  void thePlanReadsEachPartByNameFromTheSettings() {
    SettingValues settings = SettingValues.defaults().with(TrainingSettings.LR, 1e-3).with(TrainingSettings.BETA1, 0.8)
        .with(TrainingSettings.BETA2, 0.95).with(TrainingSettings.EPS, 1e-8).with(TrainingSettings.WEIGHT_DECAY, 0.01)
        .with(TrainingSettings.GLOBAL_BATCH_SIZE, 12).with(TrainingSettings.NUM_WORKERS, 3)
        .with(TrainingSettings.MAX_EPOCHS, 2.0).with(TrainingSettings.WARMUP_FRACTION, 0.1);
    TrainPlan plan = new TrainPlan(MosaicBert.Objective.CLASSIFICATION, ModelConfig.preset("tiny", 64), settings, 30,
        16, null);
    DecoupledAdamW.Hyper hyper = plan.hyper();
    assertEquals(List.of(1e-3, 0.8, 0.95, 1e-8, 0.01), List.of(hyper.lr(), hyper.beta1(), hyper.beta2(), hyper.eps(),
        hyper.weightDecay()));
    assertEquals(4, plan.batching().microBatchSize(), "0 asks for a worker's whole share, 12 / 3");
    assertEquals(5, plan.totalSteps(), "2 epochs of 30 samples in steps of 12, rounded up");
    assertEquals(1, plan.schedule().warmupSteps(), "10% of 5 steps");
    assertEquals(1, plan.checkpointEvery(), "a third of the run");
  }
}
