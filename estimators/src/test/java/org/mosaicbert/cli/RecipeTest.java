package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RecipeTest {
  @Test
  void durationsBecomeStepsOrANamedError() {
    assertEquals(300, Recipe.steps("300ba", 32, 1000));
    assertEquals(31, Recipe.steps("1000sp", 32, 1000));
    assertEquals(63, Recipe.steps("2ep", 32, 1000));
    for (String bad : new String[] {"-5ba", "0ba", "1.5ba", "5", "ba", "xyzep", "-1ep"}) {
      String message = assertThrows(UsageException.class, () -> Recipe.steps(bad, 32, 1000)).getMessage();
      assertTrue(message.contains("max_duration") && message.contains("'" + bad + "'"), bad + ": " + message);
    }
    String huge = assertThrows(UsageException.class, () -> Recipe.steps("3000000000ba", 32, 1000)).getMessage();
    assertTrue(huge.contains("3000000000 steps") && huge.contains("at most 2147483647"), "not clamped: " + huge);
  }

  @Test
  void aWarmupOutsideTheRunIsRefusedByItsRecipeKey() {
    assertEquals(0.06, Recipe.fraction("0.06dur"), 1e-12);
    for (String bad : new String[] {"5dur", "-0.1dur", "soon"}) {
      String message = assertThrows(UsageException.class, () -> Recipe.fraction(bad)).getMessage();
      assertTrue(message.contains("scheduler.t_warmup") && message.contains("[0, 1]"), bad + ": " + message);
    }
  }

  /**
   * The 512- and 2,048-token recipes are the published 128-token recipe but for the length and the micro-batch,
   * which keeps its tokens (no recipe was published for the upstream seqlen models beyond their length).
   */
  @Test
  void theLongSequenceRecipesAreTheBaseRecipeAtAnotherLength() {
    Map<String, Object> base = Recipe.read(Path.of("..", "conf", "mosaic-bert-base-uncased.yaml"),
        Recipe.PRETRAINING, false);
    for (int length : new int[] {512, 2048}) {
      Map<String, Object> recipe = Recipe.read(Path.of("..", "conf", "mosaic-bert-base-uncased-seqlen-" + length
          + ".yaml"), Recipe.PRETRAINING, false);
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
}
