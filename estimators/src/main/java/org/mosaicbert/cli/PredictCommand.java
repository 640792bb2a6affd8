package org.mosaicbert.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.ml.MosaicBertModel;
import org.mosaicbert.ml.ScoringProgress;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.train.TrainingSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code predict}: scores a text file, CSV, JSON or Parquet column with a model folder; writes the scored table. */
final class PredictCommand implements Subcommand {
  private static final Logger LOG = LoggerFactory.getLogger(PredictCommand.class);

  @Override
  public String name() {
    return "predict";
  }

  @Override
  public String summary() {
    return "score a text column (txt, CSV, JSON, Parquet or GLUE TSV) with a model; write the predictions";
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert predict --model DIR --input FILE --output OUT [flags]

        Runs MosaicBertModel.transform over the input's text column (and a second column for pairs) and writes the
        input's columns plus the model's: prediction, probability and rawPrediction for a classifier (and
        predictedLabel when it was trained on string labels), prediction for a regression model, embedding for an
        MLM model or on request. Vectors are written as arrays of doubles. A row with no text (empty, or only
        whitespace: no token) gets null outputs. While it scores, it logs the rows done, rows/s and an ETA to
        standard error about every 10 s. The output is written under a temporary name and renamed into place when
        complete.

          --model DIR          a model folder (pretrain, finetune or import output)
          --input FILE         .txt (one text per line), .csv (header), .json/.jsonl, .parquet, or a GLUE .tsv
                               with --task
          --output OUT         the folder to write (Spark's layout)
          --format F           parquet, json or csv (default parquet)
          --task NAME          read --input as this GLUE task's TSV (columns text and text_pair)
          --text-col C         the text column (default text)
          --text-pair-col C    the second text column of a pair task (default none; text_pair with --task)
          --max-seq-len N      tokens per text, [CLS] and [SEP] included: longer texts are cut (default 256);
                               past the model's alibi_starting_size ALiBi extrapolates (logged)
          --window-stride N    instead of cutting them, score single texts longer than --max-seq-len in windows
                               of --max-seq-len tokens, each starting N tokens after the one before (1 to
                               max-seq-len - 2), and pool them: the mean of the windows' logits (probability
                               and prediction follow from it) and embeddings; pairs are still cut (default 0)
          --batch-size N       sequences per forward pass (default 32)
          --threads N          CPU threads per scoring task (default 1: Spark runs one task per core)
          --precision P        the encoder's arithmetic: fp32, bf16 or int8 (MosaicBertModel's precision;
                               default fp32); README "Scoring at bf16 and int8" has their speed and accuracy
          --device D           cpu, gpu or auto (default auto: the CPU until GPU training through Spark has
                               run on a GPU); on a GPU the encoder runs in bf16, with fp32 or bf16 alike
          --embedding KIND     add an embedding column: mean or pooled (default: mean for an MLM model, none
                               otherwise)
          --overwrite          replace OUT
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws Exception {
    Args args = Args.parse(name(), argv, Set.of("model", "input", "output", "format", "task", "text-col",
        "text-pair-col", "max-seq-len", "window-stride", "batch-size", "threads", "embedding", "precision", "device"),
        Set.of("overwrite"));
    String modelDir = args.requiredString("model");
    String input = args.requiredString("input");
    String output = args.requiredString("output");
    String format = args.choice("format", "parquet", Tables.FORMATS);
    GlueTask task = args.has("task") ? GlueTask.named(args.requiredString("task")) : null;
    String textCol = args.string("text-col", "text");
    String pairCol = args.string("text-pair-col", task != null && task.isPair() ? "text_pair" : "");
    int maxSeqLen = args.intValue("max-seq-len", 256, 3);
    int windowStride = args.intValue("window-stride", 0, 0);
    if (windowStride > maxSeqLen - 2) {
      throw new UsageException("predict: --window-stride " + windowStride + " would skip tokens between windows of "
          + "--max-seq-len " + maxSeqLen + ": use at most " + (maxSeqLen - 2) + " ([CLS] and [SEP] take 2)");
    }
    int batchSize = args.intValue("batch-size", 32, 1);
    int threads = args.setting("threads", TrainingSettings.THREADS_PER_WORKER, 1);
    String precision = args.choice("precision", "fp32", Precision.valueNames());
    String device = args.setting("device", TrainingSettings.DEVICE, "auto");
    String embedding = args.has("embedding") ? args.choice("embedding", "mean", List.of("mean", "pooled")) : null;
    SparkSession spark = SubcommandSpark.submittedOrLocal(name());
    long start = System.nanoTime();
    try {
      Outputs.claim(output, "--output", name(), spark.sparkContext().hadoopConfiguration());
      Outputs.check(output, "--output", args.has("overwrite"), spark.sparkContext().hadoopConfiguration(), modelDir,
          input);
      MosaicBertModel model = MosaicBertModel.load(modelDir);
      Dataset<Row> table = Tables.read(spark, input, task);
      Tables.requireTextColumn(table, textCol, "--text-col", input);
      if (!pairCol.isEmpty()) {
        Tables.requireTextColumn(table, pairCol, "--text-pair-col", input);
      }
      model.setTextCol(textCol).setTextPairCol(pairCol).setMaxSeqLen(maxSeqLen).setWindowStride(windowStride)
          .setBatchSize(batchSize).setThreadsPerWorker(threads).setPrecision(precision)
          .setDevice(device);
      if (embedding != null) {
        model.setEmbeddingCol("embedding").setEmbeddingPooling(embedding);
      }
      // Counting the input reads it once more, without tokenizing or scoring: a small cost beside scoring, for
      // progress lines with an ETA.
      long inputRows = table.count();
      LOG.info("predict: model {}, input {} ({} rows), output {} ({}); text columns '{}', '{}'; max-seq-len {}, "
          + "window-stride {}, batch-size {}, threads {}, precision {}, device {}, embedding {}", modelDir, input,
          inputRows, output, format, textCol, pairCol, maxSeqLen, windowStride, batchSize, threads, precision, device,
          embedding);
      spark.sparkContext().setLocalProperty(ScoringProgress.TOTAL_ROWS, String.valueOf(inputRows));
      try {
        Tables.write(model.transform(table), output, format, args.has("overwrite"));
      } finally {
        spark.sparkContext().setLocalProperty(ScoringProgress.TOTAL_ROWS, null);
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      Dataset<Row> written = spark.read().format(format).option("header", "true")
          .load(Tables.literal(spark, output));
      long rows = written.count();
      out.printf("predictions: %s (%s, %d rows)%n", output, format, rows);
      if (model.folder().heads() == ParameterLayout.Heads.CLASSIFIER && !model.folder().config().isRegression()) {
        String column = model.folder().config().labels() != null ? "predictedLabel" : "prediction";
        StringBuilder counts = new StringBuilder();
        for (Row r : written.groupBy(column).count().orderBy(column).collectAsList()) {
          counts.append(counts.length() == 0 ? "" : ", ").append(r.isNullAt(0) ? "null" : r.get(0)).append(": ")
              .append(r.getLong(1));
        }
        out.printf("%s counts: %s%n", column, counts);
      }
      out.printf(Locale.ROOT, "time: %.1f s (%.1f rows/s, Spark start-up included)%n", seconds, rows / seconds);
      return 0;
    } finally {
      spark.stop();
      Outputs.releaseClaims();
    }
  }
}
