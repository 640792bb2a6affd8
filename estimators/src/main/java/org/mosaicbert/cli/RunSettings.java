package org.mosaicbert.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.train.Setting;
import org.mosaicbert.train.SettingValues;
import org.mosaicbert.train.TrainingSettings;

/**
 * The training settings of one run of a subcommand, on the command line: their flags and help come from their
 * declarations ({@link TrainingSettings}), and each is resolved once, from its flag when given, else its recipe key,
 * else the kind of run's default ({@link Defaults}), else its declared default. A bad value is a
 * {@link UsageException} naming the flag or the recipe file and key it came from. The resolved values are what a
 * command prints at its start and saves beside its output.
 */
final class RunSettings {
  private final String command;
  private final Setting.Run run;
  private final Args args;
  private final Recipe recipe;
  private final Map<String, Object> notes = new LinkedHashMap<>();
  private SettingValues values = SettingValues.defaults();

  RunSettings(String command, Setting.Run run, Args args, Recipe recipe) {
    this.command = command;
    this.run = run;
    this.args = args;
    this.recipe = recipe;
  }

  /** The value flags of a kind of run's settings (names without dashes), with {@code recipe}. */
  static Set<String> flags(Setting.Run run) {
    Set<String> flags = new LinkedHashSet<>(List.of("recipe"));
    settingsOf(run).forEach(s -> flags.add(s.flag()));
    return flags;
  }

  /** The recipe keys a kind of run reads: its settings' and the fixed ones. */
  static Set<String> recipeKeys(Setting.Run run) {
    Set<String> keys = new LinkedHashSet<>();
    settingsOf(run).forEach(s -> keys.add(s.recipeKey()));
    keys.addAll(TrainingSettings.FIXED_RECIPE_KEYS.keySet());
    return keys;
  }

  private static List<Setting<?>> settingsOf(Setting.Run run) {
    return TrainingSettings.ALL.stream().filter(s -> s.readBy(run)).toList();
  }

  /** The help lines of a kind of run's settings: flag, doc, recipe key and the run's default each. */
  static String help(Setting.Run run, Defaults defaults) {
    StringBuilder s = new StringBuilder(Help.flag("--recipe FILE", "a YAML recipe, keys as MosaicML's (flags override "
        + "it, it overrides the defaults)"));
    for (Setting<?> setting : settingsOf(run)) {
      s.append(Help.flag("--" + setting.flag() + " " + metavar(setting), setting.doc() + " (recipe: "
          + setting.recipeForm().describe(setting.recipeKey()) + "; default " + defaults.describe(setting) + ")"));
    }
    return s.toString();
  }

  private static String metavar(Setting<?> s) {
    if (!s.choices().isEmpty()) {
      return String.join("|", s.choices());
    }
    return s.type() == String.class ? "NAME" : s.type() == Double.class ? "X" : "N";
  }

  /** Resolves every setting of this kind of run, in the declared order (so a default may read those before it). */
  SettingValues resolve(Defaults defaults) {
    if (args.has(TrainingSettings.MAX_STEPS.flag()) && args.has(TrainingSettings.MAX_EPOCHS.flag())) {
      throw new UsageException(command + ": give --" + TrainingSettings.MAX_STEPS.flag() + " or --"
          + TrainingSettings.MAX_EPOCHS.flag() + ", not both");
    }
    for (Setting<?> s : settingsOf(run)) {
      values = values.with(s, resolve(s, defaults));
    }
    return values;
  }

  /**
   * The value of {@code s} when its flag or its recipe key gives one, checked; null otherwise. For what a command
   * must know before it can resolve the rest (the length to tokenize at, say).
   */
  <T> T given(Setting<T> s) {
    return args.has(s.flag()) || recipe.has(s.recipeKey()) ? s.type().cast(resolve(s, new Defaults())) : null;
  }

  private Object resolve(Setting<?> s, Defaults defaults) {
    String where = null;
    Object raw = null;
    if (args.has(s.flag())) {
      where = "--" + s.flag();
      raw = args.string(s.flag(), null);
    } else if (s == TrainingSettings.MAX_STEPS && args.has(TrainingSettings.MAX_EPOCHS.flag())) {
      where = "--" + TrainingSettings.MAX_EPOCHS.flag(); // a run measured in epochs: steps do not bind
      raw = 0L;
    } else if (recipe.has(s.recipeKey())) {
      where = "recipe " + recipe.file() + ": " + s.recipeKey();
      raw = fromRecipe(s, recipe.get(s.recipeKey()), where);
    }
    if (raw == null && defaults.has(s)) {
      where = "the default of " + command;
      raw = defaults.value(s, values);
    }
    if (raw == null) {
      return s.defaultValue();
    }
    try {
      return s.check(raw);
    } catch (IllegalArgumentException e) {
      throw new UsageException(command + ": " + where + " = " + e.getMessage());
    }
  }

  /** A recipe value in its setting's form, or null where the form says the key does not set it. */
  private Object fromRecipe(Setting<?> s, Object value, String where) {
    String text = value.toString().trim().toLowerCase(Locale.ROOT);
    return switch (s.recipeForm()) {
      case PLAIN -> value;
      case FIRST_OF_PAIR, SECOND_OF_PAIR -> {
        if (!(value instanceof List<?> pair) || pair.size() != 2) {
          throw new UsageException(command + ": " + where + " must be a list of two numbers, got " + value);
        }
        yield pair.get(s.recipeForm() == Setting.RecipeForm.FIRST_OF_PAIR ? 0 : 1);
      }
      case SHARE_OF_RUN -> text.endsWith("dur") ? text.substring(0, text.length() - 3) : text;
      case DURATION_STEPS, DURATION_EPOCHS -> {
        String unit = text.length() > 2 ? text.substring(text.length() - 2) : "";
        double amount;
        try {
          amount = Double.parseDouble(text.substring(0, Math.max(0, text.length() - 2)));
        } catch (NumberFormatException e) {
          amount = Double.NaN;
        }
        if (!(amount > 0) || !List.of("ba", "sp", "ep").contains(unit)) {
          throw new UsageException(command + ": " + where + " = '" + value + "' must be Nba (steps), Nsp (samples) "
              + "or Nep (epochs) with N positive");
        }
        if (s.recipeForm() == Setting.RecipeForm.DURATION_EPOCHS) {
          yield unit.equals("ep") ? amount : null;
        }
        yield switch (unit) {
          case "ba" -> amount;
          case "sp" -> Math.max(1, Math.floor(amount / values.get(TrainingSettings.GLOBAL_BATCH_SIZE)));
          default -> 0L; // epochs: maxEpochs decides
        };
      }
    };
  }

  /** A list of numbers for a setting of the command's own, from its flag (comma-separated) or its recipe key. */
  List<Double> numbers(String flag, String key, List<Double> fallback) {
    Object v = args.has(flag) ? args.string(flag, null) : recipe.has(key) ? recipe.get(key) : null;
    String where = args.has(flag) ? "--" + flag : "recipe " + recipe.file() + ": " + key;
    List<?> items = v == null ? fallback : v instanceof List<?> list ? list : List.of(v.toString().split(","));
    List<Double> out = new ArrayList<>();
    for (Object item : items) {
      try {
        out.add(item instanceof Number n ? n.doubleValue() : Double.parseDouble(item.toString().trim()));
      } catch (NumberFormatException e) {
        throw new UsageException(command + ": " + where + " must be numbers, got '" + item + "'");
      }
    }
    notes.put(key, out);
    return out;
  }

  /** Records a value the command derived (paths, counts), so the saved settings say everything the run used. */
  void note(String name, Object value) {
    notes.put(name, value);
  }

  /** The resolved settings, then the notes: what is printed and saved. */
  Map<String, Object> resolved() {
    Map<String, Object> out = new LinkedHashMap<>();
    settingsOf(run).forEach(s -> out.put(s.param(), values.get(s)));
    out.putAll(notes);
    return out;
  }

  String json() {
    try {
      return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(resolved());
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Writes the resolved settings as JSON through the Hadoop file system (overwriting). */
  void save(String folder, String name, org.apache.hadoop.conf.Configuration conf) throws IOException {
    org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(folder, name);
    try (var stream = file.getFileSystem(conf).create(file, true)) {
      stream.write(json().getBytes(StandardCharsets.UTF_8));
    }
  }

  /** Sets every resolved setting of this kind of run on {@code estimator}. */
  void applyTo(MosaicBertEstimator estimator) {
    for (Setting<?> s : settingsOf(run)) {
      estimator.set(s, values.get(s));
    }
  }

  /**
   * A kind of run's defaults where they are not the declared ones: a value, or one computed from the settings
   * resolved before it, each with the words its help shows.
   */
  static final class Defaults {
    /** A default computed when the run is resolved. */
    interface Rule {
      Object of(SettingValues resolvedSoFar);
    }

    private record Entry(String words, Rule rule) {}

    private final Map<String, Entry> entries = new LinkedHashMap<>();

    /** The defaults every training run on the command line shares: a worker's share of this machine's cores. */
    static Defaults training() {
      return new Defaults().computed(TrainingSettings.THREADS_PER_WORKER, "this machine's cores over the workers",
          v -> Math.max(1, Runtime.getRuntime().availableProcessors() / v.get(TrainingSettings.NUM_WORKERS)));
    }

    /** A copy, to add a command's own defaults to shared ones. */
    Defaults copy() {
      Defaults copy = new Defaults();
      copy.entries.putAll(entries);
      return copy;
    }

    <T> Defaults value(Setting<T> setting, T value) {
      entries.put(setting.param(), new Entry(show(value), v -> value));
      return this;
    }

    Defaults computed(Setting<?> setting, String words, Rule rule) {
      entries.put(setting.param(), new Entry(words, rule));
      return this;
    }

    boolean has(Setting<?> setting) {
      return entries.containsKey(setting.param());
    }

    Object value(Setting<?> setting, SettingValues resolvedSoFar) {
      return entries.get(setting.param()).rule().of(resolvedSoFar);
    }

    String describe(Setting<?> setting) {
      return has(setting) ? entries.get(setting.param()).words() : show(setting.defaultValue());
    }

    /** A value as help shows it: 3e-5 rather than 3.0E-5, 0.02 rather than 2.0E-2. */
    static String show(Object value) {
      if (!(value instanceof Double d)) {
        return value.toString();
      }
      if (d != 0 && Math.abs(d) < 1e-3) {
        return String.format(Locale.ROOT, "%e", d).replaceAll("\\.?0+e", "e").replaceAll("e-0*", "e-");
      }
      return new BigDecimal(Double.toString(d)).stripTrailingZeros().toPlainString();
    }
  }
}
