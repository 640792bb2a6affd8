package org.mosaicbert.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
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
import org.mosaicbert.train.Setting;
import org.mosaicbert.train.SettingValues;
import org.mosaicbert.train.TrainPlan;
import org.mosaicbert.train.TrainingSettings;
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
        .json/.jsonl, .parquet, or a GLUE .tsv with --task). Fine-tuning keeps no checkpoints: a run stopped before
        OUT was written starts over when run again; once OUT is written the same command is refused (--overwrite
        trains again; to train the model further, fine-tune from it: --model OUT with another --output).

          --model DIR           the model folder to start from (pretrain, finetune or import output)
          --train FILE          the training table
          --eval FILE           a table to score after training (its labels give the metrics)
          --output OUT          the fine-tuned model folder to write
          --task NAME           a GLUE task: read its TSVs, its columns, labels and metrics; with a GLUE recipe
                                (conf/glue-mosaic-bert-base-uncased.yaml) the task's section applies
          --text-col C          the text column (default text)
          --text-pair-col C     the second text column of a pair task (default none)
          --label-col C         the label column (default label)
          --from-scratch        DIR's config, vocabulary and tokenizer settings, random weights (a baseline)
          --overwrite           fine-tune again from DIR and replace OUT once the new model is written (a run
                                stopped before then leaves OUT as it was)
        """ + RunSettings.help(Setting.Run.FINETUNING, defaults(null));
  }

  /** Fine-tuning's defaults, with a GLUE task's objective and labels. */
  private static RunSettings.Defaults defaults(GlueTask task) {
    return FineTuning.DEFAULTS.copy()
        .computed(TrainingSettings.OBJECTIVE, "classification; regression for a regression GLUE task",
            v -> (task != null && task.isRegression() ? TrainingObjective.REGRESSION
                : TrainingObjective.CLASSIFICATION).paramValue())
        .computed(TrainingSettings.NUM_LABELS, "from the data, or the GLUE task's",
            v -> task != null && !task.isRegression() ? task.labels().size() : 0);
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws Exception {
    Set<String> flags = new java.util.HashSet<>(RunSettings.flags(Setting.Run.FINETUNING));
    flags.addAll(Set.of("model", "train", "eval", "output", "task", "text-col", "text-pair-col", "label-col"));
    Args args = Args.parse(name(), argv, flags, Set.of("from-scratch", "overwrite"));
    String modelDir = args.requiredString("model");
    String trainPath = args.requiredString("train");
    String output = args.requiredString("output");
    GlueTask task = args.has("task") ? GlueTask.named(args.requiredString("task")) : null;
    Recipe recipe = args.has("recipe") ? Recipe.read(Path.of(args.requiredString("recipe")),
        RunSettings.recipeKeys(Setting.Run.FINETUNING), true).forTask(task != null ? task.name() : "") : Recipe.NONE;
    RunSettings settings = new RunSettings(name(), Setting.Run.FINETUNING, args, recipe);
    SettingValues values = settings.resolve(defaults(task));
    TrainingObjective objective = TrainingObjective.of(values.get(TrainingSettings.OBJECTIVE));
    if (objective == TrainingObjective.MLM) {
      throw new UsageException(name() + ": --objective must be classification or regression; pretrain trains MLM");
    }
    String textCol = args.string("text-col", "text");
    String pairCol = args.string("text-pair-col", task != null && task.isPair() ? "text_pair" : "");
    String labelCol = args.string("label-col", "label");
    FineTuning.requireLocalModelFolder(modelDir);
    SparkSession spark = SubcommandSpark.submittedOrLocal(name());
    long start = System.nanoTime();
    try {
      var conf = spark.sparkContext().hadoopConfiguration();
      Outputs.claim(output, "--output", name(), conf);
      Outputs.refuseInputs(output, "--output", conf, args.has("eval")
          ? new String[] {modelDir, trainPath, args.requiredString("eval")} : new String[] {modelDir, trainPath});
      if (!args.has("overwrite") && Outputs.exists(output, conf)) {
        throw new IllegalArgumentException("--output " + output + " exists: the run that wrote it is complete. Give "
            + "--overwrite to fine-tune again from " + modelDir + " and replace it, or, to train that model further, "
            + "fine-tune from it (--model " + output + ") into another --output");
      }
      Outputs.requireWritable(output, "--output", conf);
      Dataset<Row> train = Tables.read(spark, trainPath, task);
      Tables.requireTextColumn(train, textCol, "--text-col", trainPath);
      if (!pairCol.isEmpty()) {
        Tables.requireTextColumn(train, pairCol, "--text-pair-col", trainPath);
      }
      Tables.requireColumn(train, labelCol, "--label-col", trainPath);
      long rows = train.count();
      MosaicBertEstimator estimator = FineTuning.estimator(modelDir, args.has("from-scratch") ? "" : modelDir,
          objective, values.get(TrainingSettings.NUM_LABELS), textCol, pairCol).setLabelCol(labelCol);
      settings.applyTo(estimator);
      long steps = TrainPlan.totalSteps(values, rows);
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
      Outputs.releaseClaims();
    }
  }
}
