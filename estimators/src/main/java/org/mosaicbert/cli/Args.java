package org.mosaicbert.cli;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * {@code --name value} and {@code --switch} flags of one subcommand. Every flag must be declared; an unknown or
 * repeated flag, a missing value or a malformed number is a {@link UsageException} that names the flag.
 */
public final class Args {
  private final String command;
  private final Map<String, String> values = new HashMap<>();

  private Args(String command) {
    this.command = command;
  }

  /** The subcommand these flags are of. */
  String command() {
    return command;
  }

  /**
   * @param valueFlags flags that take a value
   * @param switches flags that take none
   */
  public static Args parse(String command, String[] argv, Set<String> valueFlags, Set<String> switches) {
    Args args = new Args(command);
    for (int i = 0; i < argv.length; i++) {
      String arg = argv[i];
      String name;
      String value = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        name = arg.substring(2, eq);
        value = arg.substring(eq + 1);
      } else if (arg.startsWith("--")) {
        name = arg.substring(2);
      } else {
        throw new UsageException(command + ": unexpected argument '" + arg + "'; flags start with -- (see " + command
            + " --help)");
      }
      if (args.values.containsKey(name)) {
        throw new UsageException(command + ": --" + name + " is given twice");
      }
      if (switches.contains(name)) {
        if (value != null) {
          throw new UsageException(command + ": --" + name + " takes no value");
        }
        args.values.put(name, "true");
      } else if (valueFlags.contains(name)) {
        if (value == null) {
          if (i + 1 >= argv.length) {
            throw new UsageException(command + ": --" + name + " needs a value");
          }
          value = argv[++i];
        }
        args.values.put(name, value);
      } else {
        throw new UsageException(command + ": unknown flag --" + name + " (see " + command + " --help)");
      }
    }
    return args;
  }

  /** Whether the flag (a switch, or a flag with a value) was given. */
  public boolean has(String name) {
    return values.containsKey(name);
  }

  public String string(String name, String defaultValue) {
    return values.getOrDefault(name, defaultValue);
  }

  public String requiredString(String name) {
    String value = values.get(name);
    if (value == null) {
      throw new UsageException(command + ": --" + name + " is required (see " + command + " --help)");
    }
    return value;
  }

  public Path path(String name) {
    return Path.of(requiredString(name));
  }

  public int intValue(String name, int defaultValue, int min) {
    String value = values.get(name);
    if (value == null) {
      return defaultValue;
    }
    int parsed;
    try {
      parsed = Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw new UsageException(command + ": --" + name + " must be a whole number, got '" + value + "'");
    }
    if (parsed < min) {
      throw new UsageException(command + ": --" + name + " must be at least " + min + ", got " + parsed);
    }
    return parsed;
  }

  /** A flag's value for a training setting, checked as its declaration says (range, whole number). */
  public <T> T setting(String name, org.mosaicbert.train.Setting<T> setting, T defaultValue) {
    String value = values.get(name);
    if (value == null) {
      return defaultValue;
    }
    try {
      return setting.check(value);
    } catch (IllegalArgumentException e) {
      throw new UsageException(command + ": --" + name + " = " + e.getMessage());
    }
  }

  /** A flag's value, which must be one of {@code allowed}. */
  public String choice(String name, String defaultValue, java.util.List<String> allowed) {
    String value = values.getOrDefault(name, defaultValue);
    if (!allowed.contains(value)) {
      throw new UsageException(command + ": --" + name + " = '" + value + "' must be one of " + allowed);
    }
    return value;
  }

  /** The flags as given, for printing the resolved configuration. */
  public Map<String, String> asMap() {
    return new LinkedHashMap<>(values);
  }
}
