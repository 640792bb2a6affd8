package org.mosaicbert.ml;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a killed run leaves of an output NAME, known by name alone, so that nothing else is touched. Beside NAME: the
 * temporary siblings that writers fill and rename into place ({@code .NAME.tmp-*}; {@code ..NAME.tmp-*} for a model
 * saved into such a sibling), the writability probe ({@code .NAME.probe-*}) and the lock's own temporary files
 * ({@code .NAME.lock.beat-*}, {@code .NAME.lock.stale-*}). In this machine's temporary folder: the staging folders a
 * model folder or a checkpoint is written through, named after the output ({@link #stagingPrefix}) by
 * {@link ModelFolder#write} and {@link HadoopCheckpointStore#stagingPrefix}. Only the run holding the output's
 * {@link OutputLock} removes them: no live run owns them then.
 */
public final class Leftovers {
  private static final Logger LOG = LoggerFactory.getLogger(Leftovers.class);
  /** The name of a temporary sibling of NAME, NAME in group 1. */
  private static final Pattern TEMPORARY_SIBLING = Pattern.compile("\\.(.+)\\.tmp-[^.]*");

  private Leftovers() {}

  /**
   * A fresh name for a temporary sibling of {@code target}, {@code .NAME.tmp-UUID}: what a writer fills and renames
   * into place, and what {@link #removeBeside} knows as a killed run's leftover.
   */
  public static String temporaryName(Path target) {
    return "." + target.getName() + ".tmp-" + java.util.UUID.randomUUID();
  }

  /**
   * The name prefix of the local staging folders of the model folder written to {@code target} (fully qualified) or
   * to a temporary sibling of it: the same for both, so that the output's next run finds them.
   */
  static String stagingPrefix(Path target) {
    return stagingPrefix("model", target);
  }

  /**
   * The name prefix of the local staging folders of {@code what} ("model", "checkpoint") written for {@code target}:
   * a hash of the target's path, the target a temporary sibling stands for.
   */
  static String stagingPrefix(String what, Path target) {
    String name = target.getName();
    for (Matcher m = TEMPORARY_SIBLING.matcher(name); m.matches(); m = TEMPORARY_SIBLING.matcher(name)) {
      name = m.group(1);
    }
    String output = new Path(target.getParent(), name).toString();
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(output.getBytes(StandardCharsets.UTF_8));
      return "mosaicbert-" + what + "-" + HexFormat.of().formatHex(digest, 0, 8) + "-";
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Removes the leftovers of {@code target} (fully qualified), beside it and in the local temporary folder. */
  static void removeBeside(FileSystem fs, Path target) {
    String name = target.getName();
    List<String> prefixes = List.of("." + name + ".tmp-", "." + name + ".probe-",
        "." + name + OutputLock.SUFFIX + ".beat-", "." + name + OutputLock.SUFFIX + ".stale-");
    String nested = ".." + name + ".tmp-"; // the temporary of a temporary sibling (not of an output named .NAME)
    try {
      for (FileStatus entry : fs.listStatus(target.getParent())) {
        String entryName = entry.getPath().getName();
        // Hadoop's local file system keeps a file's checksum beside it, as .FILE.crc: judged as FILE.
        String judged = entryName.startsWith(".") && entryName.endsWith(".crc")
            ? entryName.substring(1, entryName.length() - ".crc".length()) : entryName;
        if (prefixes.stream().anyMatch(judged::startsWith)
            || judged.startsWith(nested) && judged.indexOf(".tmp-", nested.length()) >= 0) {
          LOG.info("removing {}, left by an earlier run of {} that did not finish", entry.getPath(), target);
          fs.delete(entry.getPath(), true);
        }
      }
    } catch (FileNotFoundException e) {
      // no folder, no leftovers
    } catch (IOException e) {
      LOG.warn("could not remove what an earlier run left beside {}: {}", target, e.toString());
    }
    removeStaging(stagingPrefix(target), target);
  }

  /** Removes the folders named {@code prefix}* in this machine's temporary folder: staging copies of {@code target}. */
  static void removeStaging(String prefix, Path target) {
    java.nio.file.Path temporary = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"));
    try (Stream<java.nio.file.Path> entries = Files.list(temporary)) {
      for (java.nio.file.Path folder : entries.filter(p -> p.getFileName().toString().startsWith(prefix)).toList()) {
        LOG.info("removing {}, a staging copy left by an earlier run of {} that did not finish", folder, target);
        deleteRecursively(folder);
      }
    } catch (IOException e) {
      LOG.warn("could not remove the staging copies of {} in {}: {}", target, temporary, e.toString());
    }
  }

  /** Deletes {@code folder} and all it holds, deepest first. */
  public static void deleteRecursively(java.nio.file.Path folder) throws IOException {
    List<java.nio.file.Path> all;
    try (Stream<java.nio.file.Path> walk = Files.walk(folder)) {
      all = walk.sorted(Comparator.reverseOrder()).toList();
    }
    for (java.nio.file.Path p : all) {
      Files.deleteIfExists(p);
    }
  }
}
