package org.mosaicbert.cli;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.StructField;
import org.mosaicbert.data.LiteralPaths;
import org.mosaicbert.data.TextFileCheck;
import org.mosaicbert.glue.GlueReader;
import org.mosaicbert.glue.GlueTask;

/**
 * The tables {@code finetune} and {@code predict} read and write, chosen by file name: {@code .parquet} (or a folder
 * of Parquet files), {@code .csv} (with a header), {@code .json}/{@code .jsonl} (JSON lines), {@code .txt} (one
 * text per line, as column {@code text}), and a GLUE {@code .tsv} when a GLUE task is named. A path names one file
 * or folder, never a glob; text, JSON and CSV must be UTF-8 with every CSV quote closed ({@link TextFileCheck}).
 * Outputs are written to a temporary folder beside the target and renamed into place when complete.
 */
final class Tables {
  static final List<String> FORMATS = List.of("parquet", "json", "csv");

  private Tables() {}

  static Dataset<Row> read(SparkSession spark, String path, GlueTask task) {
    String name = path.toLowerCase(Locale.ROOT);
    org.apache.hadoop.conf.Configuration conf = spark.sparkContext().hadoopConfiguration();
    String literal;
    try {
      org.apache.hadoop.fs.Path p = LiteralPaths.of(path);
      FileSystem fs = p.getFileSystem(conf);
      if (!fs.exists(p)) {
        throw new IllegalArgumentException(path + " does not exist");
      }
      if (fs.getFileStatus(p).isFile()) {
        LiteralPaths.requireOpenable(p, fs, "input");
      }
      literal = LiteralPaths.forSpark(p, conf);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + path + ": " + e.getMessage(), e);
    }
    if (task != null) {
      if (!name.endsWith(".tsv")) {
        throw new IllegalArgumentException(path + ": with a GLUE task the input must be the task's .tsv file");
      }
      return GlueReader.read(spark, task, java.nio.file.Path.of(path));
    }
    boolean csv = name.endsWith(".csv");
    if (csv || name.endsWith(".json") || name.endsWith(".jsonl") || name.endsWith(".txt")) {
      TextFileCheck.check(spark, path, csv);
    }
    if (csv) {
      return spark.read().option("header", "true").option("multiLine", "true").option("escape", "\"").csv(literal);
    }
    if (name.endsWith(".json") || name.endsWith(".jsonl")) {
      return spark.read().json(literal);
    }
    if (name.endsWith(".txt")) {
      return spark.read().text(literal).withColumnRenamed("value", "text");
    }
    if (name.endsWith(".tsv")) {
      throw new IllegalArgumentException(path + ": a .tsv file is read as GLUE data; name its task with --task");
    }
    return spark.read().parquet(literal);
  }

  /** Checks that {@code column} exists in {@code df}, naming the flag and the columns there are. */
  static void requireColumn(Dataset<Row> df, String column, String flag, String path) {
    if (!Arrays.asList(df.columns()).contains(column)) {
      throw new IllegalArgumentException(path + " has no column '" + column + "' (" + flag + "); its columns: "
          + Arrays.toString(df.columns()));
    }
  }

  /**
   * Checks that a text column exists and holds strings: numbers or objects in a JSON table would otherwise be
   * tokenized as their printed form without a word.
   */
  static void requireTextColumn(Dataset<Row> df, String column, String flag, String path) {
    requireColumn(df, column, flag, path);
    var type = df.schema().apply(column).dataType();
    String fix = "; give text (in JSON, quoted strings) or name another column with " + flag;
    if (!type.equals(org.apache.spark.sql.types.DataTypes.StringType)) {
      throw new IllegalArgumentException(path + ": column '" + column + "' (" + flag + ") holds " + type.simpleString()
          + " values, not text" + fix);
    }
    String name = path.toLowerCase(Locale.ROOT);
    if (name.endsWith(".json") || name.endsWith(".jsonl")) {
      // Spark reads a field that mixes strings with numbers or objects as strings: their printed form would be
      // tokenized without a word. One pass over the lines finds them.
      Dataset<String> odd = df.sparkSession().read().textFile(literal(df.sparkSession(), path)).filter(
          (org.apache.spark.api.java.function.FilterFunction<String>) line -> !isTextOrAbsent(line, column));
      long count = odd.count();
      if (count > 0) {
        throw new IllegalArgumentException(path + ": " + count + " record(s) give column '" + column + "' (" + flag
            + ") a number, object or array instead of text, e.g. " + abbreviate(odd.first()) + fix);
      }
    }
  }

  /** {@code path} for Spark's readers, read as the one file or folder it names. */
  static String literal(SparkSession spark, String path) {
    try {
      return LiteralPaths.forSpark(path, spark.sparkContext().hadoopConfiguration());
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + path + ": " + e.getMessage(), e);
    }
  }

  /** Shared: this runs on every line of a JSON input, and a mapper is thread-safe for reading. */
  private static final com.fasterxml.jackson.databind.ObjectMapper JSON =
      new com.fasterxml.jackson.databind.ObjectMapper();

  private static boolean isTextOrAbsent(String line, String column) {
    if (line.isBlank()) {
      return true;
    }
    try {
      var field = JSON.readTree(line).get(column);
      return field == null || field.isNull() || field.isTextual();
    } catch (IOException e) {
      return true; // not one record per line: Spark's reader has its own word on that
    }
  }

  private static String abbreviate(String line) {
    return line.length() <= 120 ? line : line.substring(0, 117) + "...";
  }

  /**
   * Writes {@code df} to {@code path} in a format of {@link #FORMATS}: ML vectors become arrays of doubles (CSV gets
   * them as JSON text, since CSV has no arrays).
   */
  static void write(Dataset<Row> df, String path, String format, boolean overwrite) throws IOException {
    Dataset<Row> out = df;
    for (StructField f : df.schema().fields()) {
      Column c = functions.col(f.name());
      boolean vector = f.dataType().equals(org.apache.spark.ml.linalg.SQLDataTypes.VectorType());
      if (vector) {
        // vector_to_array fails on null (a row with no text): keep the null.
        c = functions.when(c.isNull(), functions.lit(null)).otherwise(
            org.apache.spark.ml.functions.vector_to_array(c, "float64"));
      }
      if (format.equals("csv") && (vector || f.dataType() instanceof org.apache.spark.sql.types.ArrayType)) {
        c = functions.to_json(c);
      }
      out = out.withColumn(f.name(), c);
    }
    org.apache.hadoop.fs.Path target = new org.apache.hadoop.fs.Path(path);
    FileSystem fs = target.getFileSystem(df.sparkSession().sparkContext().hadoopConfiguration());
    if (fs.exists(target) && !overwrite) {
      throw new IllegalArgumentException(path + " exists; give --overwrite to replace it");
    }
    org.apache.hadoop.fs.Path temp = new org.apache.hadoop.fs.Path(target.getParent(),
        org.mosaicbert.ml.Leftovers.temporaryName(target));
    try {
      var writer = out.write();
      if (format.equals("csv")) {
        writer = writer.option("header", "true");
      }
      writer.format(format).save(temp.toString());
      if (fs.exists(target)) {
        fs.delete(target, true);
      }
      if (!fs.rename(temp, target)) {
        throw new IOException("cannot rename " + temp + " to " + target);
      }
    } finally {
      if (fs.exists(temp)) {
        fs.delete(temp, true);
      }
    }
  }
}
