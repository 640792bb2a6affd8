package org.mosaicbert.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.mosaicbert.ml.Leftovers;
import org.mosaicbert.ml.OutputLock;

/**
 * The local folder that {@code export} and {@code import} write ({@code --output}, {@code --overwrite}): refused
 * before any work when it is a file, or a folder with something in it and no {@code --overwrite}, so a mistake costs
 * nothing; then, holding its lock ({@link OutputLock}: no other run writes it meanwhile), written into a temporary
 * sibling and renamed into place, so it appears complete or not at all and a failure leaves what was there.
 */
final class OutputFolder {
  /** The flag with the folder's path, as every subcommand names its output. */
  static final String FLAG = "output";
  /** The flag's earlier name, still taken (with a line saying it is deprecated). */
  static final String OLD_FLAG = "out";
  /** The flag that allows replacing a folder with something in it. */
  static final String OVERWRITE = "overwrite";
  /** The usage line of a command that writes an output folder: the command and its own flags, then these. */
  static String usage(String commandAndFlags) {
    return "usage: mosaicbert " + commandAndFlags + " --" + FLAG + " DIR [--" + OVERWRITE + "]\n";
  }

  /** Help lines for the two flags. */
  static final String HELP = """
            --output DIR    the local folder to write; it must not exist or be empty (--out, its old name,
                            still works)
            --overwrite     replace DIR when it exists and is not empty
          """;

  /** Writes a folder's files into {@code dir}, which exists and is empty. */
  interface Writer {
    void write(Path dir) throws IOException;
  }

  private final Path target;
  private final boolean overwrite;
  private final String command;

  private OutputFolder(Path target, boolean overwrite, String command) {
    this.target = target;
    this.overwrite = overwrite;
    this.command = command;
  }

  /** The {@code --output} folder of {@code args}, checked against {@code --overwrite}. */
  static OutputFolder of(Args args) throws IOException {
    OutputFolder folder = new OutputFolder(args.path(FLAG).toAbsolutePath().normalize(), args.has(OVERWRITE),
        args.command());
    folder.check();
    return folder;
  }

  private void check() throws IOException {
    String flag = "--" + FLAG + " " + target;
    if (Files.exists(target) && !Files.isDirectory(target)) {
      throw new IllegalArgumentException(flag + " is a file, not a folder; give a folder path");
    }
    if (!overwrite && Files.isDirectory(target) && !isEmpty(target)) {
      throw new IllegalArgumentException(flag + " exists and is not empty; give --" + OVERWRITE + " to replace it, "
          + "or another path");
    }
  }

  Path path() {
    return target;
  }

  /**
   * Writes the folder through a temporary sibling renamed into place, replacing what was there; first takes the
   * folder's lock, removes what a killed run of it left, and checks it again (nothing else writes it now).
   */
  void write(Writer writer) throws IOException {
    Files.createDirectories(target.getParent());
    try (OutputLock lock = OutputLock.acquire(target.toString(), "--" + FLAG, "mosaicbert " + command,
        new Configuration())) {
      lock.removeLeftovers();
      check();
      // Made as any folder is (Files.createTempDirectory would make it private, 0700, unlike every other output).
      Path tmp = Files.createDirectory(target.getParent().resolve("." + target.getFileName() + ".tmp-"
          + java.util.UUID.randomUUID()));
      try {
        writer.write(tmp);
        if (Files.exists(target)) {
          Leftovers.deleteRecursively(target);
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } finally {
        if (Files.exists(tmp)) {
          Leftovers.deleteRecursively(tmp);
        }
      }
    }
  }

  private static boolean isEmpty(Path dir) throws IOException {
    try (Stream<Path> entries = Files.list(dir)) {
      return entries.findAny().isEmpty();
    }
  }
}
