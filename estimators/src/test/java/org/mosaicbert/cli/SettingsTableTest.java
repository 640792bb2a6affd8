package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.ml.param.Param;
import org.junit.jupiter.api.Test;
import org.mosaicbert.ml.DevicePlacement;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.ml.TrainingObjective;
import org.mosaicbert.train.Setting;
import org.mosaicbert.train.TrainingSettings;

/**
 * Every declared training setting reaches a run from each of its three doors: a recipe key, a flag, an estimator
 * param (with its accessor and setter); and the help of each subcommand that reads it lists it.
 */
class SettingsTableTest {
  private static final Map<Setting.Run, Subcommand> COMMAND_OF = Map.of(Setting.Run.PRETRAINING,
      new PretrainCommand(), Setting.Run.FINETUNING, new FinetuneCommand(), Setting.Run.GLUE, new GlueCommand());

  /** A value the setting allows other than its default. */
  private static Object another(Setting<?> s) {
    if (s.type() == String.class) {
      return s.choices().isEmpty() ? "base" : s.choices().stream().filter(c -> !c.equals(s.defaultValue()))
          .findFirst().orElseThrow();
    }
    double d = ((Number) s.defaultValue()).doubleValue();
    double other = Double.isFinite(s.range().high()) ? (d + s.range().high()) / 2 : d == 0 ? 3 : d * 2;
    return s.type() == Integer.class ? (Object) (int) other : s.type() == Long.class ? (Object) (long) other : other;
  }

  /** {@code value} as a recipe writes it. */
  private static Object inRecipe(Setting<?> s, Object value) {
    return switch (s.recipeForm()) {
      case PLAIN -> value;
      case FIRST_OF_PAIR -> List.of(value, TrainingSettings.BETA2.defaultValue());
      case SECOND_OF_PAIR -> List.of(TrainingSettings.BETA1.defaultValue(), value);
      case SHARE_OF_RUN -> value + "dur";
      case DURATION_STEPS -> value + "ba";
      case DURATION_EPOCHS -> value + "ep";
    };
  }

  private static Object resolve(Setting<?> s, Setting.Run run, String[] argv, Recipe recipe) {
    String command = COMMAND_OF.get(run).name();
    Args args = Args.parse(command, argv, RunSettings.flags(run), Set.of());
    return new RunSettings(command, run, args, recipe).resolve(new RunSettings.Defaults()).get(s);
  }

  @Test
  void everySettingIsReachableFromARecipeAFlagAndAParamAndEachHelpListsIt() throws Exception {
    for (Setting<?> s : TrainingSettings.ALL) {
      Object value = another(s);
      int runs = 0;
      for (Setting.Run run : Setting.Run.values()) {
        if (!s.readBy(run)) {
          continue;
        }
        runs++;
        assertEquals(value, resolve(s, run, new String[] {"--" + s.flag(), String.valueOf(value)}, Recipe.NONE),
            s + " from --" + s.flag() + " in " + run);
        assertTrue(RunSettings.recipeKeys(run).contains(s.recipeKey()), s + "'s key in " + run);
        assertEquals(value, resolve(s, run, new String[0], new Recipe("r.yaml", Map.of(s.recipeKey(),
            inRecipe(s, value)))), s + " from recipe key " + s.recipeKey() + " in " + run);
        String help = COMMAND_OF.get(run).help().replaceAll("\\s+", " ");
        assertTrue(help.contains("--" + s.flag() + " ") && help.contains("(recipe: "
            + s.recipeForm().describe(s.recipeKey()) + ";"),
            COMMAND_OF.get(run).name() + " --help lists " + s + ":\n" + help);
      }
      assertTrue(runs > 0, s + " is read by some run");

      MosaicBertEstimator estimator = new MosaicBertEstimator();
      Param<Object> param = estimator.getParam(s.param());
      assertEquals(s.defaultValue(), estimator.getDefault(param).get(), s + "'s param default");
      assertEquals(param, MosaicBertEstimator.class.getMethod(s.param()).invoke(estimator), s + "'s accessor");
      String setterName = "set" + Character.toUpperCase(s.param().charAt(0)) + s.param().substring(1);
      Method setter = Arrays.stream(MosaicBertEstimator.class.getMethods())
          .filter(m -> m.getName().equals(setterName) && m.getParameterCount() == 1
              && !m.getParameterTypes()[0].isEnum()).findFirst().orElseThrow(() -> new AssertionError(setterName));
      setter.invoke(estimator, value);
      assertEquals(value, estimator.settingValues().get(s), s + " through " + setterName);
    }
  }

  @Test
  void theChoicesOfTheTableAreTheEnumsTheEstimatorParses() {
    assertEquals(Set.of(TrainingObjective.paramValues()), Set.copyOf(TrainingSettings.OBJECTIVE.choices()));
    assertEquals(Set.of(DevicePlacement.paramValues()), Set.copyOf(TrainingSettings.DEVICE.choices()));
  }

  @Test
  void aFlagOverridesTheRecipeWhichOverridesTheDefaults() {
    Recipe recipe = new Recipe("r.yaml", Map.of("optimizer.lr", 1e-3, "max_duration", "2ep"));
    assertEquals(2e-3, resolve(TrainingSettings.LR, Setting.Run.PRETRAINING, new String[] {"--lr", "2e-3"}, recipe));
    assertEquals(1e-3, resolve(TrainingSettings.LR, Setting.Run.PRETRAINING, new String[0], recipe));
    assertEquals(5e-4, resolve(TrainingSettings.LR, Setting.Run.PRETRAINING, new String[0], Recipe.NONE));
    assertEquals(0L, resolve(TrainingSettings.MAX_STEPS, Setting.Run.PRETRAINING, new String[] {"--max-epochs", "3"},
        new Recipe("r.yaml", Map.of("max_duration", "300ba"))), "--max-epochs measures the run in epochs");
  }

  /** The README's table of settings is kept in step: a row names each setting's param, recipe key and flag. */
  @Test
  void theReadmeListsEverySetting() throws java.io.IOException {
    List<String> rows = java.nio.file.Files.readAllLines(java.nio.file.Path.of(System.getProperty("mosaicbert.repo.dir"), "README.md")).stream()
        .filter(l -> l.startsWith("| `")).toList();
    for (Setting<?> s : TrainingSettings.ALL) {
      assertTrue(rows.stream().anyMatch(r -> r.contains("`" + s.param() + "`") && r.contains("`" + s.recipeKey()
          + "`") && r.contains("`--" + s.flag() + "`") && r.endsWith(s.isFreeOnResume() ? "| yes |" : "| |")),
          "README.md has no row for " + s + " with its recipe key, flag and whether it may change on resume");
    }
  }
}
