package org.mosaicbert.cli;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * A recipe: YAML whose keys follow the MosaicML BERT yamls where one exists ({@code optimizer.lr},
 * {@code scheduler.t_warmup}, {@code max_duration}, {@code global_train_batch_size},
 * {@code device_train_microbatch_size}, {@code mlm_probability}, {@code seed} ...). Read into a flat map of dotted
 * keys; a key the command does not know or a malformed value is an error that names the key. A GLUE recipe holds
 * per-task sections under {@code tasks.<TASK>} that override its top-level keys for that task.
 */
final class Recipe {
  /** The keys of every training run, with what they mean. */
  static final Map<String, String> TRAINING = new LinkedHashMap<>();
  /** Pretraining's keys. */
  static final Map<String, String> PRETRAINING = new LinkedHashMap<>();
  /** Fine-tuning's keys (also those of a GLUE recipe's tasks, with {@code seeds}). */
  static final Map<String, String> FINETUNING = new LinkedHashMap<>();

  static {
    TRAINING.put("optimizer.name", "decoupled_adamw (the only one)");
    TRAINING.put("optimizer.lr", "peak learning rate");
    TRAINING.put("optimizer.betas", "[beta1, beta2]");
    TRAINING.put("optimizer.eps", "Adam epsilon");
    TRAINING.put("optimizer.weight_decay", "decoupled weight decay");
    TRAINING.put("scheduler.name", "linear_decay_with_warmup (the only one)");
    TRAINING.put("scheduler.t_warmup", "warmup as a fraction of the run, e.g. 0.06dur");
    TRAINING.put("scheduler.alpha_f", "final learning-rate factor");
    TRAINING.put("max_duration", "run length: Nba (steps), Nsp (samples) or Nep (epochs)");
    TRAINING.put("global_train_batch_size", "sequences per step, all workers together");
    TRAINING.put("device_train_microbatch_size", "sequences per forward/backward of one worker");
    TRAINING.put("device_train_microbatch_tokens", "at most this many tokens per forward/backward (long sequences)");
    TRAINING.put("seed", "seed of initialisation, data order, masks and dropout");
    TRAINING.put("max_seq_len", "tokens per sample");
    TRAINING.put("workers", "data-parallel workers");
    TRAINING.put("threads_per_worker", "CPU threads per worker");
    TRAINING.put("device", "cpu, gpu or auto: what each worker trains on");
    TRAINING.put("checkpoint_every", "steps between checkpoints");
    TRAINING.put("metrics_every", "steps between metrics lines");
    TRAINING.put("ring_timeout_seconds", "seconds a worker waits for a silent peer inside a step before the step fails");
    PRETRAINING.putAll(TRAINING);
    PRETRAINING.put("model.preset", "tiny, mini, small, base or large");
    PRETRAINING.put("model.config", "path of a config.json (instead of a preset)");
    PRETRAINING.put("mlm_probability", "share of tokens masked");
    FINETUNING.putAll(TRAINING);
    FINETUNING.put("model.num_labels", "classes (0: from the data; 1 or objective regression: a regression head)");
    FINETUNING.put("objective", "classification or regression");
    FINETUNING.put("seeds", "seeds of a GLUE task, one fine-tuning run each");
  }

  private Recipe() {}

  /**
   * Reads a recipe whose keys must be among {@code keys}, or, with {@code perTask}, under {@code tasks.<TASK>.}.
   */
  static Map<String, Object> read(Path file, Map<String, String> keys, boolean perTask) {
    try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return parse(reader, file.toString(), keys, perTask);
    } catch (NoSuchFileException e) {
      throw new UsageException("recipe " + file + " does not exist");
    } catch (IOException e) {
      throw new UsageException("recipe " + file + " cannot be read: " + e.getMessage());
    }
  }

  /** A recipe packed into the jar. */
  static Map<String, Object> readResource(String name, Map<String, String> keys, boolean perTask) {
    try (var stream = Recipe.class.getResourceAsStream(name)) {
      if (stream == null) {
        throw new IllegalStateException("the built-in recipe " + name + " is missing from the jar");
      }
      return parse(new java.io.InputStreamReader(stream, StandardCharsets.UTF_8), name, keys, perTask);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static Map<String, Object> parse(Reader reader, String file, Map<String, String> keys, boolean perTask) {
    Object root;
    try {
      root = new Yaml(new SafeConstructor(new LoaderOptions())).load(reader);
    } catch (RuntimeException e) {
      throw new UsageException("recipe " + file + " is not valid YAML: " + e.getMessage());
    }
    Map<String, Object> flat = new LinkedHashMap<>();
    if (root != null) {
      if (!(root instanceof Map<?, ?> map)) {
        throw new UsageException("recipe " + file + " must be a mapping of keys to values");
      }
      flatten("", map, flat, keys, perTask, file);
    }
    return flat;
  }

  private static void flatten(String prefix, Map<?, ?> map, Map<String, Object> out, Map<String, String> keys,
      boolean perTask, String file) {
    for (Map.Entry<?, ?> e : map.entrySet()) {
      String key = prefix + e.getKey();
      String bare = perTask && key.startsWith("tasks.") && key.indexOf('.', 6) > 0
          ? key.substring(key.indexOf('.', 6) + 1) : key;
      if (e.getValue() instanceof Map<?, ?> nested && !keys.containsKey(bare)) {
        flatten(key + ".", nested, out, keys, perTask, file);
      } else if (!keys.containsKey(bare)) {
        throw new UsageException("recipe " + file + ": unknown key '" + key + "'; known keys: " + keys.keySet()
            + (perTask ? ", also under tasks.<TASK>." : ""));
      } else {
        out.put(key, e.getValue());
      }
    }
  }

  /** A GLUE recipe's settings for one task: its top-level keys, overridden by those under {@code tasks.<task>}. */
  static Map<String, Object> forTask(Map<String, Object> recipe, String task) {
    Map<String, Object> out = new LinkedHashMap<>();
    recipe.forEach((k, v) -> {
      if (!k.startsWith("tasks.")) {
        out.put(k, v);
      }
    });
    String prefix = "tasks." + task + ".";
    recipe.forEach((k, v) -> {
      if (k.startsWith(prefix)) {
        out.put(k.substring(prefix.length()), v);
      }
    });
    return out;
  }

  /** The task names a GLUE recipe has sections for. */
  static Set<String> tasks(Map<String, Object> recipe) {
    Set<String> names = new java.util.LinkedHashSet<>();
    for (String k : recipe.keySet()) {
      if (k.startsWith("tasks.")) {
        names.add(k.substring(6, k.indexOf('.', 6)));
      }
    }
    return names;
  }

  /** A duration ("300ba", "1000sp", "2ep") as optimizer steps, at least 1 and at most 2^31 - 1. */
  static int steps(String duration, int globalBatch, long samples) {
    String d = duration.trim().toLowerCase(Locale.ROOT);
    String form = "recipe key max_duration = '" + duration + "' must be Nba (steps), Nsp (samples) or Nep (epochs) "
        + "with N positive";
    double amount;
    try {
      amount = Double.parseDouble(d.length() > 2 ? d.substring(0, d.length() - 2) : "x");
    } catch (NumberFormatException e) {
      throw new UsageException(form);
    }
    double steps = switch (d.substring(Math.max(0, d.length() - 2))) {
      case "ba" -> amount == Math.rint(amount) ? amount : Double.NaN;
      case "sp" -> Math.max(1, Math.floor(amount / globalBatch));
      case "ep" -> Math.max(1, Math.ceil(amount * samples / globalBatch));
      default -> Double.NaN;
    };
    if (!(amount > 0) || Double.isNaN(steps)) {
      throw new UsageException(form);
    }
    if (steps > Integer.MAX_VALUE) {
      throw new UsageException("recipe key max_duration = '" + duration + "' is " + (long) steps + " steps; a run "
          + "has at most " + Integer.MAX_VALUE);
    }
    return (int) steps;
  }

  /** A warmup ("0.06dur") as a fraction of the run, in [0, 1]. */
  static double fraction(String warmup) {
    String w = warmup.trim().toLowerCase(Locale.ROOT);
    double fraction;
    try {
      fraction = Double.parseDouble(w.endsWith("dur") ? w.substring(0, w.length() - 3) : w);
    } catch (NumberFormatException e) {
      fraction = Double.NaN;
    }
    if (!(fraction >= 0 && fraction <= 1)) {
      throw new UsageException("recipe key scheduler.t_warmup = '" + warmup + "' must be a fraction of the run in "
          + "[0, 1], such as 0.06dur");
    }
    return fraction;
  }
}
