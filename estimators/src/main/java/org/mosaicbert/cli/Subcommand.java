package org.mosaicbert.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.util.Map;

/** One subcommand of {@code mosaicbert}. Results go to {@code out}; logs and progress go to standard error. */
public interface Subcommand {
  String name();

  /** One line for the list of subcommands. */
  String summary();

  /**
   * The full {@code --help} text: the usage, prose, and an entry per flag ({@code "  --flag VALUE  what it does"}),
   * which {@link Help#layout} lays out: wrapped at word boundaries, the flags' docs in one column.
   */
  String help();

  /**
   * Flags renamed since, old name to new (without dashes): the old name still works, with a line on standard error
   * saying it is deprecated.
   */
  default Map<String, String> renamedFlags() {
    return Map.of();
  }

  /** @return the process exit code: 0 on success */
  int run(String[] args, InputStream in, PrintStream out) throws Exception;
}
