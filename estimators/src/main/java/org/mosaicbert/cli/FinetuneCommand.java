package org.mosaicbert.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.ml.GlueEvaluator;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.ml.MosaicBertModel;
import org.mosaicbert.ml.TrainingObjective;
import org.mosaicbert.ml.ModelFolder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code finetune}: one fine-tuning run (classification or regression) from a model folder on a table with a text
 * column and a label column, or on a GLUE task's TSV; scores an evaluation table when given one.
 */
final class FinetuneCommand implements Subcommand {
  private static final Logger LOG = LoggerFactory.getLogger(FinetuneCommand.class);

  @Override
  public String name() {
    return "finetune";
  }

  @Override
  public String summary() {
    return "fine-tune a model (classification or regression) on a labelled table or a GLUE task";
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert finetune --model DIR --train FILE --output OUT [--eval FILE] [flags]

        Fine-tunes DIR (a pretrained model gets a fresh pooler and classifier; a fine-tuned one keeps its encoder
        and pooler and gets a fresh classifier when the label count differs) and writes the fine-tuned model folder
        to OUT, with the resolved settings in OUT/finetune_args.json. Labels may be class indices, class names
        (kept in config.json's id2label; predictions then also carry predictedLabel) or regression targets. With
        --eval, scores that table and prints its metrics. Tables are read by file name (.csv with a header,
        .json/.jsonl, .parquet, or a GLUE .tsv with --task).

          --model DIR          the model folder to start from (pretrain, finetune or import output)
          --train FILE         the training table
          --eval FILE          a table to score after training (its labels give the metrics)
          --output OUT         the fine-tuned model folder to write
          --task NAME          a GLUE task: read its TSVs, its columns, labels and metrics; with a GLUE recipe
                               (conf/glue-mosaic-bert-base-uncased.yaml) the task's section applies
          --text-col C         the text column (default text)
          --text-pair-col C    the second text column of a pair task (default none)
          --label-col C        the label column (default label)
          --objective O        classification or regression (recipe: objective; default classification)
          --num-labels N       classes (recipe: model.num_labels; default: from the data)
          --max-seq-len N      tokens per example (recipe: max_seq_len; default 256)
          --from-scratch       DIR's config, vocabulary and tokenizer settings, random weights (a baseline)
          --overwrite          replace OUT
        """ + TrainingSettings.HELP + """

        Defaults: 3 epochs of 32, lr 3e-5, weight decay 3e-6, warmup 6%, alpha_f 0 (the GLUE recipe's common
        settings, spec section 4).
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws Exception {
    Set<String> flags = new java.util.HashSet<>(TrainingSettings.FLAGS);
    flags.addAll(Set.of("model", "train", "eval", "output", "task", "text-col", "text-pair-col", "label-col",
        "objective", "num-labels", "max-seq-len"));
    Args args = Args.parse(name(), argv, flags, Set.of("from-scratch", "overwrite"));
    String modelDir = args.requiredString("model");
    String trainPath = args.requiredString("train");
    String output = args.requiredString("output");
    GlueTask task = args.has("task") ? GlueTask.named(args.requiredString("task")) : null;
    Map<String, Object> recipe = Map.of();
    if (args.has("recipe")) {
      recipe = Recipe.read(Path.of(args.requiredString("recipe")), Recipe.FINETUNING, true);
      recipe = Recipe.forTask(recipe, task != null ? task.name() : "");
    }
    Settings settings = new Settings(name(), args, recipe);
    TrainingObjective objective = TrainingObjective.of(settings.choice("objective", "objective",
        (task != null && task.isRegression() ? TrainingObjective.REGRESSION : TrainingObjective.CLASSIFICATION)
            .paramValue(), List.of(TrainingObjective.CLASSIFICATION.paramValue(),
            TrainingObjective.REGRESSION.paramValue())));
    String textCol = settings.text("text-col", null, "text");
    String pairCol = settings.text("text-pair-col", null, task != null && task.isPair() ? "text_pair" : "");
    String labelCol = settings.text("label-col", null, "label");
    int numLabels = settings.integer("num-labels", "model.num_labels",
        task != null && !task.isRegression() ? task.labels().size() : 0, 0);
    int maxSeqLen = settings.integer("max-seq-len", "max_seq_len", 256, 3);
    Path vocab = Path.of(modelDir, ModelFolder.VOCAB);
    if (!Files.exists(vocab)) {
      throw new IllegalArgumentException(modelDir + " is not a local model folder: it has no " + ModelFolder.VOCAB);
    }
    SparkSession spark = SubcommandSpark.submittedOrLocal(name());
    long start = System.nanoTime();
    try {
      var conf = spark.sparkContext().hadoopConfiguration();
      Outputs.check(output, "--output", args.has("overwrite"), conf, args.has("eval")
          ? new String[] {modelDir, trainPath, args.requiredString("eval")} : new String[] {modelDir, trainPath});
      Dataset<Row> train = Tables.read(spark, trainPath, task);
      Tables.requireTextColumn(train, textCol, "--text-col", trainPath);
      if (!pairCol.isEmpty()) {
        Tables.requireTextColumn(train, pairCol, "--text-pair-col", trainPath);
      }
      Tables.requireColumn(train, labelCol, "--label-col", trainPath);
      long rows = train.count();
      MosaicBertEstimator estimator = new MosaicBertEstimator().setObjective(objective).setNumLabels(numLabels)
          .setVocab(vocab.toString()).setModelConfig(Path.of(modelDir, ModelFolder.CONFIG).toString())
          .setInitModel(args.has("from-scratch") ? "" : modelDir).setTextCol(textCol).setTextPairCol(pairCol)
          .setLabelCol(labelCol).setMaxSeqLen(maxSeqLen);
      // The folder's tokenizer settings, for --from-scratch too: its vocabulary is only right tokenized that way.
      Path tokenizerConfig = Path.of(modelDir, ModelFolder.TOKENIZER_CONFIG);
      if (Files.exists(tokenizerConfig)) {
        estimator.setTokenizerConfig(tokenizerConfig.toString());
      }
      long steps = TrainingSettings.configure(settings, estimator, new TrainingSettings.Defaults(3e-5, 3e-6, 0.0, 32,
          "3ep"), rows);
      settings.note("model", args.has("from-scratch") ? "random weights, " + modelDir + "'s config" : modelDir);
      settings.note("train", trainPath);
      settings.note("train_rows", rows);
      settings.note("output", output);
      LOG.info("finetune, resolved settings:\n{}", settings.json());
      MosaicBertModel model = estimator.fit(train);
      (args.has("overwrite") ? model.write().overwrite() : model.write()).save(output);
      settings.save(output, "finetune_args.json", conf);
      out.printf("model: %s (%s, %d rows, %d steps)%n", output, objective.paramValue(), rows, steps);
      if (args.has("eval")) {
        String evalPath = args.requiredString("eval");
        Dataset<Row> scored = model.transform(Tables.read(spark, evalPath, task));
        if (model.folder().config().labels() != null) {
          // String labels: the evaluators compare class indices.
          scored = scored.withColumn(labelCol, functions.array_position(functions.lit(model.folder().config()
              .labels().toArray(new String[0])), functions.col(labelCol)).minus(1).cast(DataTypes.DoubleType));
        }
        List<String> metrics = new ArrayList<>();
        if (task != null) {
          task.metrics().forEach(m -> metrics.add(m.key()));
        } else if (objective == TrainingObjective.REGRESSION) {
          metrics.addAll(List.of("pearson", "spearman"));
        } else {
          metrics.addAll(model.folder().config().numLabels() == 2 ? List.of("accuracy", "f1", "mcc")
              : List.of("accuracy", "mcc"));
        }
        scored = scored.cache();
        for (String metric : metrics) {
          double value = new GlueEvaluator().setMetricName(metric).setLabelCol(labelCol).evaluate(scored);
          out.printf(Locale.ROOT, "%s on %s: %.4f%n", metric, evalPath, value);
        }
        scored.unpersist();
      }
      out.printf(Locale.ROOT, "time: %.1f s%n", (System.nanoTime() - start) / 1e9);
      return 0;
    } finally {
      spark.stop();
    }
  }
}
