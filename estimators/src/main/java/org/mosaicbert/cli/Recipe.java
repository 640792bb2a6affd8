package org.mosaicbert.cli;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * A pretraining recipe: YAML whose keys follow the MosaicML BERT yamls where one exists ({@code optimizer.lr},
 * {@code scheduler.t_warmup}, {@code max_duration}, {@code global_train_batch_size},
 * {@code device_train_microbatch_size}, {@code mlm_probability}, {@code seed} ...). Read into a flat map of dotted
 * keys; an unknown key or a malformed value is an error that names the key.
 */
final class Recipe {
  /** Every key a recipe may hold, with what it means. */
  static final Map<String, String> KEYS = new LinkedHashMap<>();

  static {
    KEYS.put("model.preset", "tiny, mini, small, base or large");
    KEYS.put("model.config", "path of a config.json (instead of a preset)");
    KEYS.put("optimizer.name", "decoupled_adamw (the only one)");
    KEYS.put("optimizer.lr", "peak learning rate");
    KEYS.put("optimizer.betas", "[beta1, beta2]");
    KEYS.put("optimizer.eps", "Adam epsilon");
    KEYS.put("optimizer.weight_decay", "decoupled weight decay");
    KEYS.put("scheduler.name", "linear_decay_with_warmup (the only one)");
    KEYS.put("scheduler.t_warmup", "warmup as a fraction of the run, e.g. 0.06dur");
    KEYS.put("scheduler.alpha_f", "final learning-rate factor");
    KEYS.put("max_duration", "run length: Nba (steps), Nsp (samples) or Nep (epochs)");
    KEYS.put("global_train_batch_size", "sequences per step, all workers together");
    KEYS.put("device_train_microbatch_size", "sequences per forward/backward of one worker");
    KEYS.put("mlm_probability", "share of tokens masked");
    KEYS.put("seed", "seed of initialisation, data order, masks and dropout");
    KEYS.put("max_seq_len", "tokens per sample when tokenizing the default corpus");
    KEYS.put("workers", "data-parallel workers");
    KEYS.put("threads_per_worker", "CPU threads per worker");
    KEYS.put("checkpoint_every", "steps between checkpoints");
    KEYS.put("metrics_every", "steps between metrics lines");
  }

  private Recipe() {}

  static Map<String, Object> read(Path file) {
    Object root;
    try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      root = new Yaml(new SafeConstructor(new LoaderOptions())).load(reader);
    } catch (NoSuchFileException e) {
      throw new UsageException("recipe " + file + " does not exist");
    } catch (IOException | RuntimeException e) {
      throw new UsageException("recipe " + file + " is not valid YAML: " + e.getMessage());
    }
    Map<String, Object> flat = new LinkedHashMap<>();
    if (root != null) {
      if (!(root instanceof Map<?, ?> map)) {
        throw new UsageException("recipe " + file + " must be a mapping of keys to values");
      }
      flatten("", map, flat, file);
    }
    return flat;
  }

  private static void flatten(String prefix, Map<?, ?> map, Map<String, Object> out, Path file) {
    for (Map.Entry<?, ?> e : map.entrySet()) {
      String key = prefix + e.getKey();
      if (e.getValue() instanceof Map<?, ?> nested && !KEYS.containsKey(key)) {
        flatten(key + ".", nested, out, file);
      } else if (!KEYS.containsKey(key)) {
        throw new UsageException("recipe " + file + ": unknown key '" + key + "'; known keys: " + KEYS.keySet());
      } else {
        out.put(key, e.getValue());
      }
    }
  }

  static double number(Map<String, Object> recipe, String key, double fallback) {
    Object v = recipe.get(key);
    if (v == null) {
      return fallback;
    }
    if (v instanceof Number n) {
      return n.doubleValue();
    }
    try {
      return Double.parseDouble(v.toString());
    } catch (NumberFormatException e) {
      throw new UsageException("recipe key " + key + " must be a number, got '" + v + "'");
    }
  }

  static String text(Map<String, Object> recipe, String key, String fallback) {
    Object v = recipe.get(key);
    return v == null ? fallback : v.toString();
  }

  static List<?> list(Map<String, Object> recipe, String key) {
    Object v = recipe.get(key);
    if (v != null && !(v instanceof List<?>)) {
      throw new UsageException("recipe key " + key + " must be a list, got '" + v + "'");
    }
    return (List<?>) v;
  }

  /** A duration ("300ba", "1000sp", "2ep") as optimizer steps. */
  static long steps(String duration, int globalBatch, long samples) {
    String d = duration.trim().toLowerCase(Locale.ROOT);
    try {
      if (d.endsWith("ba")) {
        return Long.parseLong(d.substring(0, d.length() - 2));
      }
      if (d.endsWith("sp")) {
        return Math.max(1, Long.parseLong(d.substring(0, d.length() - 2)) / globalBatch);
      }
      if (d.endsWith("ep")) {
        return Math.max(1, (long) Math.ceil(Double.parseDouble(d.substring(0, d.length() - 2)) * samples
            / globalBatch));
      }
    } catch (NumberFormatException e) {
      // fall through to the message
    }
    throw new UsageException("max_duration '" + duration + "' must be Nba (steps), Nsp (samples) or Nep (epochs)");
  }

  /** A warmup ("0.06dur") as a fraction of the run. */
  static double fraction(String warmup) {
    String w = warmup.trim().toLowerCase(Locale.ROOT);
    try {
      return Double.parseDouble(w.endsWith("dur") ? w.substring(0, w.length() - 3) : w);
    } catch (NumberFormatException e) {
      throw new UsageException("scheduler.t_warmup '" + warmup + "' must be a fraction of the run such as 0.06dur");
    }
  }

  static final Set<String> OPTIMIZERS = Set.of("decoupled_adamw");
  static final Set<String> SCHEDULERS = Set.of("linear_decay_with_warmup");
}
