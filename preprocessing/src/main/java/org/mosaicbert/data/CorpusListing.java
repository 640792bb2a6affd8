package org.mosaicbert.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

/** The input files of a corpus path: the file itself, or every file below a folder, in sorted path order. */
public final class CorpusListing {
  private CorpusListing() {}

  /**
   * @param format a fixed format, or null to decide by extension (files with other extensions are passed over)
   */
  public static List<CorpusFile> list(String input, CorpusFormat format, Configuration conf) {
    Path root = LiteralPaths.of(input);
    List<String> paths = new ArrayList<>();
    FileSystem fs;
    try {
      fs = root.getFileSystem(conf);
      if (!fs.exists(root)) {
        throw new IllegalArgumentException("input " + input + " does not exist; give a file or a folder of "
            + "corpus files");
      }
      FileStatus status = fs.getFileStatus(root);
      if (status.isFile()) {
        paths.add(status.getPath().toString());
      } else {
        RemoteIterator<LocatedFileStatus> files = fs.listFiles(root, true);
        while (files.hasNext()) {
          LocatedFileStatus file = files.next();
          if (!isHidden(root, file.getPath())) {
            paths.add(file.getPath().toString());
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list input " + input + ": " + e.getMessage(), e);
    }
    paths.sort(null);
    List<CorpusFile> files = new ArrayList<>();
    for (String path : paths) {
      CorpusFormat fileFormat = format != null ? format : CorpusFormat.byExtension(path);
      if (fileFormat != null) {
        LiteralPaths.requireOpenable(new Path(path), fs, "input file");
        files.add(new CorpusFile(files.size(), path, fileFormat));
      }
    }
    if (files.isEmpty()) {
      throw new IllegalArgumentException("input " + input + " holds no readable file (" + paths.size() + " files, none "
          + "ending in .json, .jsonl, .json.gz, .txt, .txt.gz or .parquet); say which format they are (json, text or "
          + "parquet)");
    }
    return files;
  }

  /** Files and folders whose names start with '.' or '_' (checksums, _SUCCESS markers) are not data. */
  private static boolean isHidden(Path root, Path file) {
    for (Path p = file; p != null && !p.equals(root) && p.depth() > root.depth(); p = p.getParent()) {
      String name = p.getName();
      if (name.startsWith(".") || name.startsWith("_")) {
        return true;
      }
    }
    return false;
  }
}
