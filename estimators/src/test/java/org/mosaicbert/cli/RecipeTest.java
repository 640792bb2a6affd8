package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.train.Setting;
import org.mosaicbert.train.SettingValues;
import org.mosaicbert.train.TrainingSettings;

class RecipeTest {
  /** The settings of a pretraining run with these recipe values and no flags. */
  static SettingValues resolve(Map<String, Object> recipe) {
    Args args = Args.parse("pretrain", new String[0], RunSettings.flags(Setting.Run.PRETRAINING), Set.of());
    return new RunSettings("pretrain", Setting.Run.PRETRAINING, args, new Recipe("r.yaml", recipe))
        .resolve(new RunSettings.Defaults());
  }

  @Test
  void durationsBecomeStepsOrEpochsOrANamedError() {
    assertEquals(300L, resolve(Map.of("max_duration", "300ba")).get(TrainingSettings.MAX_STEPS));
    assertEquals(31L, resolve(Map.of("max_duration", "1000sp")).get(TrainingSettings.MAX_STEPS));
    SettingValues epochs = resolve(Map.of("max_duration", "2ep"));
    assertEquals(0L, epochs.get(TrainingSettings.MAX_STEPS), "a run in epochs: steps do not bind");
    assertEquals(2.0, epochs.get(TrainingSettings.MAX_EPOCHS));
    for (String bad : new String[] {"-5ba", "0ba", "1.5ba", "5", "ba", "xyzep", "-1ep"}) {
      String message = assertThrows(UsageException.class, () -> resolve(Map.of("max_duration", bad))).getMessage();
      assertTrue(message.contains("recipe r.yaml: max_duration") && message.contains(bad.equals("1.5ba") ? "1.5"
          : "'" + bad + "'"), bad + ": " + message);
    }
    String huge = assertThrows(UsageException.class, () -> resolve(Map.of("max_duration", "3000000000ba")))
        .getMessage();
    assertTrue(huge.contains("3000000000 must be in [0, 2147483647]"), "not clamped: " + huge);
  }

  @Test
  void aWarmupOutsideTheRunIsRefusedByItsRecipeKey() {
    assertEquals(0.06, resolve(Map.of("scheduler.t_warmup", "0.06dur")).get(TrainingSettings.WARMUP_FRACTION));
    for (String bad : new String[] {"5dur", "-0.1dur", "soon"}) {
      String message = assertThrows(UsageException.class, () -> resolve(Map.of("scheduler.t_warmup", bad)))
          .getMessage();
      assertTrue(message.contains("scheduler.t_warmup") && (message.contains("[0, 1]")
          || message.contains("not a number")), bad + ": " + message);
    }
  }

  @Test
  void betasAreAPairInTheRecipeAndTwoSettings() {
    SettingValues v = resolve(Map.of("optimizer.betas", List.of(0.8, 0.95)));
    assertEquals(0.8, v.get(TrainingSettings.BETA1));
    assertEquals(0.95, v.get(TrainingSettings.BETA2));
    String message = assertThrows(UsageException.class, () -> resolve(Map.of("optimizer.betas", List.of(0.9))))
        .getMessage();
    assertTrue(message.contains("optimizer.betas must be a list of two numbers"), message);
  }

  /**
   * The 512- and 2,048-token recipes are the published 128-token recipe but for the length and the micro-batch,
   * which keeps its tokens (no recipe was published for the upstream seqlen models beyond their length).
   */
  @Test
  void theLongSequenceRecipesAreTheBaseRecipeAtAnotherLength() {
    Map<String, Object> base = Recipe.read(Path.of(System.getProperty("mosaicbert.repo.dir"), "conf", "mosaic-bert-base-uncased.yaml"),
        RunSettings.recipeKeys(Setting.Run.PRETRAINING), false).values();
    for (int length : new int[] {512, 2048}) {
      Map<String, Object> recipe = Recipe.read(Path.of(System.getProperty("mosaicbert.repo.dir"), "conf", "mosaic-bert-base-uncased-seqlen-" + length
          + ".yaml"), RunSettings.recipeKeys(Setting.Run.PRETRAINING), false).values();
      assertEquals(length, recipe.get("max_seq_len"));
      assertEquals(128 * 128, recipe.get("device_train_microbatch_tokens"), "the 128-token recipe's micro-batch");
      Map<String, Object> rest = new java.util.LinkedHashMap<>(recipe);
      Map<String, Object> baseRest = new java.util.LinkedHashMap<>(base);
      for (String key : new String[] {"max_seq_len", "device_train_microbatch_tokens"}) {
        rest.remove(key);
        baseRest.remove(key);
      }
      assertEquals(baseRest, rest, length + " tokens");
    }
  }

  /** A key the command does not read is an error naming it and the file, never accepted and ignored. */
  @Test
  void aKeyTheCommandDoesNotReadIsAnErrorNamingTheKeyAndTheFile(@TempDir Path tmp) throws IOException {
    Path recipe = tmp.resolve("glue.yaml");
    for (String yaml : new String[] {"objective: regression\n", "tasks:\n  SST-2: {model: {num_labels: 3}}\n",
        "seed: 3\n"}) {
      Files.writeString(recipe, yaml);
      EncodeCommandTest.Result r = EncodeCommandTest.run(new byte[0], "glue", "--model", tmp.toString(), "--data",
          tmp.toString(), "--output", tmp.resolve("out").toString(), "--recipe", recipe.toString());
      assertEquals(2, r.code(), r.err());
      String key = yaml.startsWith("tasks") ? "tasks.SST-2.model.num_labels" : yaml.substring(0, yaml.indexOf(':'));
      assertTrue(r.err().contains("recipe " + recipe + ": key '" + key + "' is not read by this command"), r.err());
    }
    Files.writeString(recipe, "mlm_probability: 0.2\n");
    EncodeCommandTest.Result r = EncodeCommandTest.run(new byte[0], "finetune", "--model", tmp.toString(), "--train",
        "t.csv", "--output", tmp.resolve("out").toString(), "--recipe", recipe.toString());
    assertTrue(r.code() == 2 && r.err().contains("key 'mlm_probability' is not read by this command"), r.err());
    Files.writeString(recipe, "optimizer: {name: adam}\n");
    r = EncodeCommandTest.run(new byte[0], "pretrain", "--output", tmp.resolve("out").toString(), "--recipe",
        recipe.toString());
    assertTrue(r.code() == 2 && r.err().contains("optimizer.name = 'adam' must be 'decoupled_adamw'"), r.err());
  }

  /** YAML lets the last of two equal keys win; a recipe refuses them, naming the key and both lines. */
  @Test
  void aKeyGivenTwiceIsRefusedNamingItAndBothLines(@TempDir Path tmp) throws IOException {
    Path recipe = tmp.resolve("twice.yaml");
    Files.writeString(recipe, "seed: 3\noptimizer:\n  lr: 1.0e-3\nseed: 4\n");
    String message = assertThrows(UsageException.class, () -> Recipe.read(recipe,
        RunSettings.recipeKeys(Setting.Run.PRETRAINING), false)).getMessage();
    assertEquals("recipe " + recipe + ": key seed is given twice, on lines 1 and 4 (under the same parent); keep one",
        message);
    Files.writeString(recipe, "optimizer:\n  lr: 1.0e-3\noptimizer.lr: 2.0e-3\n");
    message = assertThrows(UsageException.class, () -> Recipe.read(recipe,
        RunSettings.recipeKeys(Setting.Run.PRETRAINING), false)).getMessage();
    assertTrue(message.contains("key 'optimizer.lr' is given twice, once nested and once with dots"), message);
  }
}
