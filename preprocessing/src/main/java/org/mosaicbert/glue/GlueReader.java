package org.mosaicbert.glue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Reads GLUE TSV files as GLUE ships them: split on tabs only (no CSV quoting: RTE, QNLI and STS-B hold unbalanced
 * quotes), UTF-8, MRPC's byte-order mark dropped, CoLA's headerless train/dev files by position, test files without
 * labels. Rows become {@code idx} (line order), {@code text}, {@code text_pair} (null for single-text tasks) and
 * {@code label} (the label's index, STS-B's score, null in a test file).
 */
public final class GlueReader {
  public static final StructType SCHEMA = new StructType()
      .add("idx", DataTypes.LongType, false)
      .add("text", DataTypes.StringType, true)
      .add("text_pair", DataTypes.StringType, true)
      .add("label", DataTypes.DoubleType, true);

  private GlueReader() {}

  /** One parsed example. */
  public record Example(long idx, String text, String pair, Double label) {}

  public static Dataset<Row> read(SparkSession spark, GlueTask task, Path file) {
    List<Row> rows = new ArrayList<>();
    for (Example e : examples(task, file)) {
      rows.add(RowFactory.create(e.idx(), e.text(), e.pair(), e.label()));
    }
    return spark.createDataFrame(rows, SCHEMA);
  }

  public static List<Example> examples(GlueTask task, Path file) {
    List<String> lines;
    try {
      lines = new ArrayList<>(Arrays.asList(Files.readString(file, StandardCharsets.UTF_8).split("\n", -1)));
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("GLUE file " + file + " does not exist", e);
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new IllegalArgumentException(invalidUtf8(file), e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
    if (!lines.isEmpty() && lines.get(lines.size() - 1).isEmpty()) {
      lines.remove(lines.size() - 1); // the final newline
    }
    if (!lines.isEmpty() && lines.get(0).startsWith("\uFEFF")) {
      lines.set(0, lines.get(0).substring(1));
    }
    int textCol;
    int pairCol = -1;
    int labelCol;
    int first;
    boolean headerless = task.name().equals("CoLA") && !lines.isEmpty() && !lines.get(0).startsWith("index\t");
    if (headerless) {
      textCol = 3; // source, label, original mark, sentence
      labelCol = 1;
      first = 0;
    } else {
      List<String> header = Arrays.asList(strip(lines.get(0)).split("\t", -1));
      textCol = column(header, task.textColumn(), file);
      pairCol = task.isPair() ? column(header, task.pairColumn(), file) : -1;
      labelCol = header.indexOf(task.labelColumn()); // absent in test files
      first = 1;
    }
    List<Example> out = new ArrayList<>(lines.size());
    for (int i = first; i < lines.size(); i++) {
      String[] cols = strip(lines.get(i)).split("\t", -1);
      int needed = Math.max(textCol, Math.max(pairCol, labelCol));
      if (cols.length <= needed) {
        throw new IllegalArgumentException(file + " line " + (i + 1) + " has " + cols.length + " tab-separated columns, "
            + "but " + task.name() + " needs column " + (needed + 1));
      }
      out.add(new Example(i - first, cols[textCol], pairCol >= 0 ? cols[pairCol] : null,
          labelCol >= 0 ? label(task, cols[labelCol], file, i + 1) : null));
    }
    return out;
  }

  private static String strip(String line) {
    return line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
  }

  /** Which line of a file that is not UTF-8 holds the first bad bytes. */
  private static String invalidUtf8(Path file) {
    try (java.io.InputStream in = Files.newInputStream(file)) {
      return org.mosaicbert.data.TextFileCheck.firstProblem(in, file.toString(), false);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  private static int column(List<String> header, String name, Path file) {
    int i = header.indexOf(name);
    if (i < 0) {
      throw new IllegalArgumentException(file + " has no column '" + name + "' in its header " + header);
    }
    return i;
  }

  private static Double label(GlueTask task, String value, Path file, int line) {
    if (task.isRegression()) {
      try {
        return Double.parseDouble(value);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(file + " line " + line + ": score '" + value + "' is not a number");
      }
    }
    int index = task.labels().indexOf(value.trim());
    if (index < 0) {
      throw new IllegalArgumentException(file + " line " + line + ": label '" + value + "' is not one of "
          + task.labels());
    }
    return (double) index;
  }

  /** The raw MRPC files the GLUE download script splits, beside MRPC's train.tsv and dev.tsv. */
  public static final String MRPC_RAW_TRAIN = "msr_paraphrase_train.txt";
  public static final String MRPC_DEV_IDS = "dev_ids.tsv";

  /**
   * Rebuilds MRPC's official train split (3,668 pairs) as the GLUE download script does: the header and every pair of
   * {@code msr_paraphrase_train.txt} whose ({@code #1 ID}, {@code #2 ID}) is not a dev pair of {@code dev_ids.tsv},
   * each line stripped and rejoined by tabs. Written to {@code out} through a temporary name.
   *
   * @return the number of pairs written
   */
  public static int rebuildMrpcTrain(Path mrpcDir, Path out) {
    try {
      java.util.Set<String> dev = new java.util.HashSet<>();
      for (String line : Files.readAllLines(mrpcDir.resolve(MRPC_DEV_IDS), StandardCharsets.UTF_8)) {
        if (!line.isBlank()) {
          dev.add(line.strip());
        }
      }
      List<String> raw = Files.readAllLines(mrpcDir.resolve(MRPC_RAW_TRAIN), StandardCharsets.UTF_8);
      List<String> train = new ArrayList<>(List.of(raw.get(0)));
      for (int i = 1; i < raw.size(); i++) {
        String[] cols = raw.get(i).strip().split("\t", -1);
        if (cols.length != 5) {
          throw new IllegalArgumentException(mrpcDir.resolve(MRPC_RAW_TRAIN) + " line " + (i + 1) + " has "
              + cols.length + " tab-separated columns, not 5");
        }
        if (!dev.contains(cols[1] + "\t" + cols[2])) {
          train.add(String.join("\t", cols));
        }
      }
      Path temp = out.resolveSibling(out.getFileName() + ".tmp");
      Files.write(temp, train, StandardCharsets.UTF_8);
      Files.move(temp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
      return train.size() - 1;
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("cannot rebuild MRPC's train split: " + e.getFile() + " does not exist", e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot rebuild MRPC's train split into " + out, e);
    }
  }
}
