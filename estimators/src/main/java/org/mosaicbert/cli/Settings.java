package org.mosaicbert.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The settings of one run, each resolved once: its flag when given, else its recipe key, else its default. Every
 * value is checked where it is read, and a bad one is a {@link UsageException} that names the flag or the recipe key
 * it came from. The resolved values are what a command prints at its start and saves beside its output.
 */
final class Settings {
  private final String command;
  private final Args args;
  private final Map<String, Object> recipe;
  private final Map<String, Object> resolved = new LinkedHashMap<>();

  Settings(String command, Args args, Map<String, Object> recipe) {
    this.command = command;
    this.args = args;
    this.recipe = recipe;
  }

  /** Where a value comes from, for messages: the flag when given (or when it has no recipe key), else the key. */
  private String source(String flag, String key) {
    return flag != null && (args.has(flag) || key == null) ? "--" + flag : "recipe key " + key;
  }

  private Object raw(String flag, String key) {
    if (flag != null && args.has(flag)) {
      return args.string(flag, null);
    }
    return key == null ? null : recipe.get(key);
  }

  /** Records a value under its recipe key (or its flag when it has no key). */
  private <T> T put(String flag, String key, T value) {
    resolved.put(key != null ? key : flag, value);
    return value;
  }

  String text(String flag, String key, String fallback) {
    Object v = raw(flag, key);
    return put(flag, key, v == null ? fallback : v.toString());
  }

  /** A text that must be one of {@code allowed}. */
  String choice(String flag, String key, String fallback, List<String> allowed) {
    String v = text(flag, key, fallback);
    if (!allowed.contains(v)) {
      throw new UsageException(command + ": " + source(flag, key) + " = '" + v + "' must be one of " + allowed);
    }
    return v;
  }

  double number(String flag, String key, double fallback, double min, double max) {
    Object v = raw(flag, key);
    double value;
    if (v == null) {
      value = fallback;
    } else if (v instanceof Number n) {
      value = n.doubleValue();
    } else {
      try {
        value = Double.parseDouble(v.toString());
      } catch (NumberFormatException e) {
        throw new UsageException(command + ": " + source(flag, key) + " must be a number, got '" + v + "'");
      }
    }
    if (!(value >= min && value <= max)) {
      throw new UsageException(command + ": " + source(flag, key) + " = " + value + " is out of range [" + min + ", "
          + max + "]");
    }
    return put(flag, key, value);
  }

  int integer(String flag, String key, int fallback, int min) {
    double value = number(flag, key, fallback, min, Integer.MAX_VALUE);
    if (value != Math.rint(value)) {
      throw new UsageException(command + ": " + source(flag, key) + " must be a whole number, got " + value);
    }
    return put(flag, key, (int) value);
  }

  long longValue(String flag, String key, long fallback) {
    Object v = raw(flag, key);
    try {
      return put(flag, key, v == null ? fallback : Long.parseLong(v.toString().trim()));
    } catch (NumberFormatException e) {
      throw new UsageException(command + ": " + source(flag, key) + " must be a whole number, got '" + v + "'");
    }
  }

  /** A list of numbers from a recipe list or a comma-separated flag. */
  List<Double> numbers(String flag, String key, List<Double> fallback) {
    Object v = raw(flag, key);
    List<?> items = v == null ? fallback : v instanceof List<?> list ? list : List.of(v.toString().split(","));
    List<Double> out = new java.util.ArrayList<>();
    for (Object item : items) {
      try {
        out.add(item instanceof Number n ? n.doubleValue() : Double.parseDouble(item.toString().trim()));
      } catch (NumberFormatException e) {
        throw new UsageException(command + ": " + source(flag, key) + " must be numbers, got '" + item + "'");
      }
    }
    return put(flag, key, out);
  }

  /** Records a value the command derived (paths, counts), so the saved settings say everything the run used. */
  void note(String name, Object value) {
    resolved.put(name, value);
  }

  Map<String, Object> resolved() {
    return resolved;
  }

  String json() {
    try {
      return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(resolved);
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
}
