package org.mosaicbert.data;

import java.io.IOException;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFileSystem;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A path a user gives names the one file or folder they mean. Two habits of Hadoop stand in the way: Spark's file
 * readers (and Hadoop's input formats) expand a path as a glob, so {@code data[1].txt} reads {@code data1.txt} and
 * {@code q?.txt} reads {@code qa.txt} too; and {@code new Path("a:b.txt")} takes {@code a} for a URI scheme.
 * Globs are not offered: a folder is the way to name many files.
 */
public final class LiteralPaths {
  /** A URI: a scheme followed by a slash ({@code hdfs://nn/x}, {@code file:/x}, {@code s3a://bucket/x}). */
  private static final Pattern WITH_SCHEME = Pattern.compile("[A-Za-z][A-Za-z0-9+.-]*:/.*");
  /** What Hadoop's glob syntax gives a meaning to (and Spark's test for a glob path looks for). */
  private static final String GLOB_CHARACTERS = "\\{}[]*?";

  private LiteralPaths() {}

  /** The path a user means: a URI when it starts with a scheme and a slash, else a path in which ':' is a character. */
  public static Path of(String path) {
    return WITH_SCHEME.matcher(path).matches() ? new Path(path) : new Path(null, null, path);
  }

  /**
   * {@code path} as a string for Spark's readers, which glob: qualified (a relative path would be parsed again, and
   * its colon taken for a scheme), with the glob characters escaped, so that exactly this file or folder is read.
   */
  public static String forSpark(Path path, Configuration conf) throws IOException {
    String qualified = path.getFileSystem(conf).makeQualified(path).toString();
    if (qualified.chars().noneMatch(c -> GLOB_CHARACTERS.indexOf(c) >= 0)) {
      return qualified; // not globbed by Spark at all, so a ':' in a name is safe
    }
    if (path.toUri().getPath().indexOf(':') >= 0) {
      // Hadoop's globber builds each name of the path with new Path(parent, name), where a ':' would start a scheme.
      throw new IllegalArgumentException(path + ": Hadoop cannot read a path that holds both ':' and one of "
          + GLOB_CHARACTERS + " literally; rename or link the file or folder without one of them");
    }
    StringBuilder escaped = new StringBuilder(qualified.length() + 8);
    for (int i = 0; i < qualified.length(); i++) {
      char c = qualified.charAt(i);
      if (GLOB_CHARACTERS.indexOf(c) >= 0) {
        escaped.append('\\');
      }
      escaped.append(c);
    }
    return escaped.toString();
  }

  /** {@link #forSpark(Path, Configuration)} of a path the user typed. */
  public static String forSpark(String path, Configuration conf) throws IOException {
    return forSpark(of(path), conf);
  }

  /**
   * Refuses a file that Hadoop's local file system cannot open: one whose name holds ':'. It looks for a checksum
   * file {@code .NAME.crc} beside it, and {@code new Path(folder, ".a:b.crc")} takes {@code .a} for a URI scheme.
   *
   * @param what how the caller's message names the file ("input", "input file")
   */
  public static void requireOpenable(Path file, FileSystem fs, String what) {
    if (fs instanceof ChecksumFileSystem && file.getName().indexOf(':') >= 0) {
      throw new IllegalArgumentException(what + " " + file + ": Hadoop's local file system cannot read a file whose "
          + "name holds ':' (it looks for a checksum file named after it, and takes what comes before the ':' for a "
          + "URI scheme); rename the file, or link it under a name without ':'");
    }
  }
}
