package org.mosaicbert.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * The checks a line-based input (text, JSON lines, CSV) passes before Spark's readers see it, since they let both
 * faults through without a word: every line is strict UTF-8 (Spark would turn bad bytes into U+FFFD and score
 * them), and in a CSV every quoted field is closed (an unclosed quote would merge the rest of the file into one
 * value). The message names the file and line, as {@code tokenize}'s does. One Spark task reads each file.
 */
public final class TextFileCheck {
  private TextFileCheck() {}

  /**
   * @param path a file, or a folder whose visible files are all read
   * @param csv whether the files are CSV, with {@code "} quoting fields and {@code ""} a quote inside one
   */
  public static void check(SparkSession spark, String path, boolean csv) {
    List<CorpusFile> files = CorpusListing.list(path, CorpusFormat.TEXT, spark.sparkContext().hadoopConfiguration());
    HadoopConf conf = HadoopConf.of(spark.sparkContext().hadoopConfiguration());
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    List<String> problems = jsc.parallelize(files, files.size())
        .map(file -> firstProblem(file.path(), conf, csv))
        .filter(problem -> !problem.isEmpty())
        .collect();
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException(problems.get(0));
    }
  }

  /** What is wrong with the file, or "" when nothing is. */
  static String firstProblem(String file, HadoopConf conf, boolean csv) {
    Path path = new Path(file);
    try (InputStream in = path.getFileSystem(conf.toConfiguration()).open(path)) {
      return firstProblem(in, file, csv);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * What is wrong with the lines of {@code in}, or "" when nothing is.
   *
   * @param file the file's name for the message
   */
  public static String firstProblem(InputStream in, String file, boolean csv) throws IOException {
    ByteLines lines = new ByteLines(in, true);
    CsvQuotes quotes = new CsvQuotes();
    long line = 0;
    while (lines.next()) {
      line++;
      String text;
      try {
        text = lines.text();
      } catch (CharacterCodingException e) {
        return file + " line " + line + ": invalid UTF-8; the input must be UTF-8 text";
      }
      if (csv) {
        quotes.read(text, line);
      }
    }
    if (csv && quotes.openSince > 0) {
      return file + " line " + quotes.openSince + ": a quoted field starts here and is never closed, so every later "
          + "line would be read into it; close the quote (a quote inside a quoted field is written twice: \"\")";
    }
    return "";
  }

  /**
   * Follows CSV quoting across lines as Spark's reader does: a field that starts with {@code "} is quoted up to the
   * next {@code "} not doubled; a quote elsewhere in a field is a plain character.
   */
  private static final class CsvQuotes {
    /** The line where the open quoted field starts, or 0 when none is open. */
    long openSince;

    void read(String line, long number) {
      boolean fieldStart = openSince == 0;
      for (int i = 0; i < line.length(); i++) {
        char c = line.charAt(i);
        if (openSince > 0) {
          if (c == '"') {
            if (i + 1 < line.length() && line.charAt(i + 1) == '"') {
              i++;
            } else {
              openSince = 0;
            }
          }
          fieldStart = false;
        } else if (c == '"' && fieldStart) {
          openSince = number;
          fieldStart = false;
        } else {
          fieldStart = c == ',';
        }
      }
    }
  }
}
