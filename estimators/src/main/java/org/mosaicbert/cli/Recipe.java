package org.mosaicbert.cli;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.mosaicbert.train.TrainingSettings;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.DuplicateKeyException;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * A recipe: YAML whose keys follow the MosaicML BERT yamls where one exists ({@code optimizer.lr},
 * {@code scheduler.t_warmup}, {@code max_duration}, {@code global_train_batch_size},
 * {@code device_train_microbatch_size}, {@code mlm_probability}, {@code seed} ...), read into a flat map of dotted
 * keys. A key the command does not read is an error naming the key and the file, as is a malformed file. A GLUE
 * recipe holds per-task sections under {@code tasks.<TASK>} that override its top-level keys for that task.
 *
 * @param file where it was read, for messages
 */
record Recipe(String file, Map<String, Object> values) {
  /** No recipe: every setting from its flag or its default. */
  static final Recipe NONE = new Recipe("(none)", Map.of());

  /**
   * Reads a recipe whose keys must be among {@code keys}, or, with {@code perTask}, under {@code tasks.<TASK>.}.
   */
  static Recipe read(Path file, Set<String> keys, boolean perTask) {
    try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return new Recipe(file.toString(), parse(reader, file.toString(), keys, perTask));
    } catch (NoSuchFileException e) {
      throw new UsageException("recipe " + file + " does not exist");
    } catch (IOException e) {
      throw new UsageException("recipe " + file + " cannot be read: " + e.getMessage());
    }
  }

  /** A recipe packed into the jar. */
  static Recipe readResource(String name, Set<String> keys, boolean perTask) {
    try (var stream = Recipe.class.getResourceAsStream(name)) {
      if (stream == null) {
        throw new IllegalStateException("the built-in recipe " + name + " is missing from the jar");
      }
      return new Recipe(name, parse(new java.io.InputStreamReader(stream, StandardCharsets.UTF_8), name, keys,
          perTask));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  boolean has(String key) {
    return values.containsKey(key);
  }

  Object get(String key) {
    return values.get(key);
  }

  private static Map<String, Object> parse(Reader reader, String file, Set<String> keys, boolean perTask) {
    Object root;
    LoaderOptions options = new LoaderOptions();
    options.setAllowDuplicateKeys(false); // YAML lets the last of two equal keys win: a silent mistake in a recipe
    try {
      root = new Yaml(new SafeConstructor(options)).load(reader);
    } catch (DuplicateKeyException e) {
      throw new UsageException("recipe " + file + ": " + e.getProblem().replace("found duplicate key", "key")
          + " is given twice, on lines " + (e.getContextMark().getLine() + 1) + " and "
          + (e.getProblemMark().getLine() + 1) + " (under the same parent); keep one");
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

  private static void flatten(String prefix, Map<?, ?> map, Map<String, Object> out, Set<String> keys,
      boolean perTask, String file) {
    for (Map.Entry<?, ?> e : map.entrySet()) {
      String key = prefix + e.getKey();
      String bare = perTask && key.startsWith("tasks.") && key.indexOf('.', 6) > 0
          ? key.substring(key.indexOf('.', 6) + 1) : key;
      if (e.getValue() instanceof Map<?, ?> nested && !keys.contains(bare)) {
        flatten(key + ".", nested, out, keys, perTask, file);
      } else if (!keys.contains(bare)) {
        throw new UsageException("recipe " + file + ": key '" + key + "' is not read by this command; the keys it "
            + "reads: " + keys + (perTask ? ", also under tasks.<TASK>." : ""));
      } else if (TrainingSettings.FIXED_RECIPE_KEYS.containsKey(bare)
          && !TrainingSettings.FIXED_RECIPE_KEYS.get(bare).equals(String.valueOf(e.getValue()))) {
        throw new UsageException("recipe " + file + ": " + key + " = '" + e.getValue() + "' must be '"
            + TrainingSettings.FIXED_RECIPE_KEYS.get(bare) + "' (the only one implemented)");
      } else if (out.containsKey(key)) {
        throw new UsageException("recipe " + file + ": key '" + key + "' is given twice, once nested and once with "
            + "dots in its name; keep one");
      } else {
        out.put(key, e.getValue());
      }
    }
  }

  /** A GLUE recipe's settings for one task: its top-level keys, overridden by those under {@code tasks.<task>}. */
  Recipe forTask(String task) {
    Map<String, Object> out = new LinkedHashMap<>();
    values.forEach((k, v) -> {
      if (!k.startsWith("tasks.")) {
        out.put(k, v);
      }
    });
    String prefix = "tasks." + task + ".";
    values.forEach((k, v) -> {
      if (k.startsWith(prefix)) {
        out.put(k.substring(prefix.length()), v);
      }
    });
    return new Recipe(file, out);
  }
}
