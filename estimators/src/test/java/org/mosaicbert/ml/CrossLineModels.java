package org.mosaicbert.ml;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.feature.SQLTransformer;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * One fit and one scoring, the same under either Spark line, for the test that checks that models cross between the
 * lines (CrossLineModelsTest, in the Spark 3.5 line's tests). The test calls these methods in its own JVM and runs
 * {@link #main} in a child JVM of the other line, on that line's shaded jar and test classes.
 *
 * <p>The training data is a folder the test writes once, read by both lines: {@code vocab.txt} and {@code rows.tsv}
 * (a sample id, a tab, the token ids separated by spaces, one row a line).
 *
 * <p>A scores file has one line per scored row: which model scored it ({@code model} or {@code pipeline}), the sample
 * id and the embedding's values as the hexadecimal bits of each double, so that two files are equal exactly when
 * every value is.
 */
public final class CrossLineModels {
  /** Where {@link #fit} saves the MosaicBertModel alone and the PipelineModel holding it. */
  public static final String MODEL = "model";
  public static final String PIPELINE = "pipeline";
  /** The scores {@link #fit} writes, of the models it fitted before they were saved. */
  public static final String FIT_SCORES = "fit-scores.tsv";
  static final String VOCAB = "vocab.txt";
  static final String ROWS = "rows.tsv";
  /** The number of rows scored, the first of rows.tsv. */
  static final int SCORED_ROWS = 8;

  private CrossLineModels() {}

  /**
   * Subcommands, run in order in one Spark session: {@code fit DATA OUT} and {@code score DIR OUT} (see {@link #fit}
   * and {@link #score}). Exits 0 when all have run.
   */
  public static void main(String[] args) throws IOException {
    SparkSession spark = session("cross-line-models");
    try {
      for (int i = 0; i < args.length; i += 3) {
        if (i + 2 >= args.length) {
          throw new IllegalArgumentException("subcommand " + args[i] + " needs two paths; usage: [fit DATA OUT] "
              + "[score DIR OUT] ...; got " + Arrays.toString(args));
        }
        Path first = Path.of(args[i + 1]);
        Path second = Path.of(args[i + 2]);
        switch (args[i]) {
          case "fit" -> fit(spark, first, second);
          case "score" -> score(spark, first, second);
          default -> throw new IllegalArgumentException("unknown subcommand '" + args[i] + "': fit DATA OUT or score "
              + "DIR OUT");
        }
      }
    } finally {
      spark.stop();
    }
  }

  /** A local Spark session on the loopback interface, as the tests of this module start theirs. */
  public static SparkSession session(String name) {
    return SparkSession.builder().master("local[2]").appName(name).config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2").getOrCreate();
  }

  /** Writes the training data folder that {@link #fit} reads: the vocabulary's lines and the rows' token ids. */
  static void writeData(List<String> vocab, Dataset<Row> rows, Path data) throws IOException {
    Files.createDirectories(data);
    Files.write(data.resolve(VOCAB), vocab);
    List<String> lines = new ArrayList<>();
    for (Row row : rows.select("sample_id", "input_ids").collectAsList()) {
      StringBuilder line = new StringBuilder().append(row.getLong(0)).append('\t');
      List<Integer> ids = row.getList(1);
      for (int j = 0; j < ids.size(); j++) {
        line.append(j == 0 ? "" : " ").append(ids.get(j));
      }
      lines.add(line.toString());
    }
    Files.write(data.resolve(ROWS), lines);
  }

  /** The rows of {@code data/rows.tsv} as the estimator takes them: sample_id and input_ids, in the file's order. */
  static Dataset<Row> rows(SparkSession spark, Path data) throws IOException {
    List<Row> rows = new ArrayList<>();
    for (String line : Files.readAllLines(data.resolve(ROWS))) {
      String[] fields = line.split("\t");
      List<Integer> ids = new ArrayList<>();
      for (String id : fields[1].split(" ")) {
        ids.add(Integer.parseInt(id));
      }
      rows.add(RowFactory.create(Long.parseLong(fields[0]), ids));
    }
    StructType schema = new StructType().add("sample_id", DataTypes.LongType)
        .add("input_ids", DataTypes.createArrayType(DataTypes.IntegerType));
    return spark.createDataFrame(rows, schema).coalesce(1);
  }

  /**
   * Pretrains the tiny model for a few steps with a fixed seed on {@code data}, inside a Pipeline whose second stage
   * is Spark's own (a SQLTransformer), and saves under {@code out} the fitted MosaicBertModel ({@value #MODEL}), the
   * PipelineModel ({@value #PIPELINE}), the data's rows.tsv and the scores of both models as fitted
   * ({@value #FIT_SCORES}).
   */
  static void fit(SparkSession spark, Path data, Path out) throws IOException {
    Dataset<Row> rows = rows(spark, data);
    MosaicBertEstimator estimator = new MosaicBertEstimator().setVocab(data.resolve(VOCAB).toString())
        .setModelConfig("tiny").setNumWorkers(1).setGlobalBatchSize(8).setMicroBatchSize(4).setMaxSteps(4)
        .setLr(2e-3).setSeed(20240607L);
    SQLTransformer select = new SQLTransformer().setStatement("SELECT sample_id, embedding FROM __THIS__");
    PipelineModel pipeline = new Pipeline().setStages(new PipelineStage[] {estimator, select}).fit(rows);
    MosaicBertModel model = (MosaicBertModel) pipeline.stages()[0];
    Files.createDirectories(out);
    model.write().save(out.resolve(MODEL).toString());
    pipeline.write().save(out.resolve(PIPELINE).toString());
    Files.copy(data.resolve(ROWS), out.resolve(ROWS));
    writeScores(spark, out, model, pipeline, out.resolve(FIT_SCORES));
  }

  /**
   * Loads the {@value #MODEL} and {@value #PIPELINE} that {@link #fit} saved in {@code dir} and writes to {@code out}
   * their scores of the rows it trained on (which it keeps beside them).
   */
  static void score(SparkSession spark, Path dir, Path out) throws IOException {
    writeScores(spark, dir, MosaicBertModel.load(dir.resolve(MODEL).toString()),
        PipelineModel.load(dir.resolve(PIPELINE).toString()), out);
  }

  /** The first rows of {@code data}'s rows.tsv scored by both models, written to {@code out}. */
  private static void writeScores(SparkSession spark, Path data, Transformer model, Transformer pipeline, Path out)
      throws IOException {
    Dataset<Row> scored = rows(spark, data).limit(SCORED_ROWS);
    List<String> lines = new ArrayList<>();
    for (Map.Entry<String, Transformer> e : Map.of(MODEL, model, PIPELINE, pipeline).entrySet().stream()
        .sorted(Map.Entry.comparingByKey()).toList()) {
      for (Row row : e.getValue().transform(scored).select("sample_id", "embedding").collectAsList()) {
        StringBuilder line = new StringBuilder(e.getKey()).append('\t').append(row.getLong(0)).append('\t');
        double[] values = ((Vector) row.get(1)).toArray();
        for (int j = 0; j < values.length; j++) {
          line.append(j == 0 ? "" : " ").append(Long.toHexString(Double.doubleToRawLongBits(values[j])));
        }
        lines.add(line.toString());
      }
    }
    Files.createDirectories(out.toAbsolutePath().getParent());
    Files.write(out, lines);
  }

  /** A scores file read back: which model's embedding of which sample, to its values, in the file's order. */
  static Map<String, double[]> readScores(Path file) throws IOException {
    Map<String, double[]> scores = new LinkedHashMap<>();
    for (String line : Files.readAllLines(file)) {
      String[] fields = line.split("\t");
      double[] values = Arrays.stream(fields[2].split(" "))
          .mapToDouble(bits -> Double.longBitsToDouble(Long.parseUnsignedLong(bits, 16))).toArray();
      scores.put("the " + fields[0] + "'s embedding of sample_id " + fields[1], values);
    }
    return scores;
  }
}
