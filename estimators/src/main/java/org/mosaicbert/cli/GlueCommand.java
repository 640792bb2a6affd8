package org.mosaicbert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.glue.GlueReader;
import org.mosaicbert.glue.GlueScore;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.ml.GlueEvaluator;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.ml.MosaicBertModel;
import org.mosaicbert.ml.TrainingObjective;
import org.mosaicbert.train.Setting;
import org.mosaicbert.train.TrainPlan;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code glue}: fine-tunes a model on each GLUE task that has train and dev data (the recipe's hyperparameters, as
 * docs/model.md §4 gives them), chains RTE, MRPC and STS-B from MNLI when MNLI ran, and prints the GLUE table as the
 * recipe computes it.
 */
final class GlueCommand implements Subcommand {
  private static final Logger LOG = LoggerFactory.getLogger(GlueCommand.class);

  /** The built-in recipe: conf/glue-mosaic-bert-base-uncased.yaml, packed into the jar. */
  static final String DEFAULT_RECIPE = "glue-mosaic-bert-base-uncased.yaml";

  private static final Set<String> FROM_MNLI = Set.of("RTE", "MRPC", "STS-B");
  /** The recipe key of a task's seeds, one fine-tuning run each. */
  private static final String SEEDS = "seeds";

  @Override
  public String name() {
    return "glue";
  }

  @Override
  public String summary() {
    return "fine-tune on the GLUE tasks and print the GLUE table";
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert glue --model DIR --data GLUE_DIR --output OUT [--tasks CoLA,SST-2,...] [flags]

        For each task with TASK/train.tsv and its dev file(s) under GLUE_DIR: fine-tune from DIR (RTE, MRPC and STS-B
        from the MNLI model when MNLI ran, as the recipe does), score dev with the recipe's metrics, and print per
        task, metric and seed, then the GLUE average as the recipe computes it (WNLI scored but not averaged; fewer
        than eight tasks is said to be not comparable with 84.3). Writes OUT/glue.json, OUT/glue.md and
        OUT/glue_args.json (the resolved settings of each task). MRPC's official 3,668-pair train split is rebuilt
        when GLUE_DIR/MRPC holds msr_paraphrase_train.txt and dev_ids.tsv.

        Settings per task come from the recipe (default: conf/glue-mosaic-bert-base-uncased.yaml, the published
        MosaicBERT-Base recipe; its top-level keys apply to every task, a task's section under tasks overrides
        them); flags override both, for every task.

          --model DIR           a model folder (pretrain's output)
          --data GLUE_DIR       GLUE TSVs, one folder per task
          --output OUT          where the results and the fine-tuned models go
          --tasks LIST          tasks to run (default: every task with data)
          --seeds LIST          seeds, one fine-tuning run each, for every task (recipe: seeds)
          --from-scratch        use DIR's config, vocabulary and tokenizer settings but random weights (the baseline)
          --train-rows N        cap on training rows per task (default: all)
          --precision P         score dev at fp32, bf16 or int8 (MosaicBertModel's precision; default fp32);
                                fine-tuning itself is fp32
        """ + RunSettings.help(Setting.Run.GLUE, FineTuning.DEFAULTS);
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws Exception {
    Set<String> flags = new java.util.HashSet<>(RunSettings.flags(Setting.Run.GLUE));
    flags.addAll(Set.of("model", "data", "output", "tasks", "seeds", "train-rows", "precision"));
    Args args = Args.parse(name(), argv, flags, Set.of("from-scratch"));
    String model = args.requiredString("model");
    Path data = args.path("data");
    Path output = args.path("output");
    Set<String> keys = new java.util.LinkedHashSet<>(RunSettings.recipeKeys(Setting.Run.GLUE));
    keys.add(SEEDS);
    Recipe recipe = args.has("recipe") ? Recipe.read(Path.of(args.requiredString("recipe")), keys, true)
        : Recipe.readResource("/org/mosaicbert/recipes/" + DEFAULT_RECIPE, keys, true);
    List<String> taskNames = args.has("tasks") ? Arrays.asList(args.requiredString("tasks").split(","))
        : GlueTask.ALL.stream().map(GlueTask::name).toList();
    int trainRows = args.intValue("train-rows", 0, 1);
    String precision = args.choice("precision", "fp32", Precision.valueNames());
    FineTuning.requireLocalModelFolder(model);
    // MNLI first, so the tasks the recipe chains from it can start from its model.
    List<GlueTask> tasks = new ArrayList<>();
    taskNames.stream().map(GlueTask::named).filter(t -> t.name().equals("MNLI")).forEach(tasks::add);
    taskNames.stream().map(GlueTask::named).filter(t -> !t.name().equals("MNLI")).forEach(tasks::add);
    // Each task's settings, resolved before any work: a bad value fails at once.
    Map<String, RunSettings> settingsOf = new LinkedHashMap<>();
    for (GlueTask task : tasks) {
      RunSettings settings = new RunSettings(name(), Setting.Run.GLUE, args, recipe.forTask(task.name()));
      settings.resolve(FineTuning.DEFAULTS);
      settingsOf.put(task.name(), settings);
    }
    Files.createDirectories(output);
    Map<String, List<Double>> results = new LinkedHashMap<>();
    Map<String, List<Map<String, Object>>> taskSettings = new LinkedHashMap<>();
    Map<String, List<Long>> taskSeeds = new LinkedHashMap<>();
    Map<String, Map<String, List<Double>>> table = new LinkedHashMap<>();
    List<String> missing = new ArrayList<>();
    Map<String, Double> seconds = new LinkedHashMap<>();
    SparkSession spark = SubcommandSpark.submittedOrLocal(name());
    try {
      Map<Long, String> mnliModels = new LinkedHashMap<>();
      for (GlueTask task : tasks) {
        Path dir = data.resolve(task.name());
        if (!Files.exists(dir.resolve("train.tsv")) || task.devFiles().stream().anyMatch(f -> !Files.exists(
            dir.resolve(f)))) {
          missing.add(task.name());
          continue;
        }
        long t0 = System.nanoTime();
        Path trainFile = dir.resolve("train.tsv");
        if (task.name().equals("MRPC") && Files.exists(dir.resolve(GlueReader.MRPC_RAW_TRAIN))
            && Files.exists(dir.resolve(GlueReader.MRPC_DEV_IDS))) {
          trainFile = output.resolve("MRPC-train.tsv");
          int pairs = GlueReader.rebuildMrpcTrain(dir, trainFile);
          LOG.info("MRPC: train split rebuilt from {} as the GLUE script does: {} pairs in {}",
              GlueReader.MRPC_RAW_TRAIN, pairs, trainFile);
        }
        Dataset<Row> train = GlueReader.read(spark, task, trainFile);
        if (trainRows > 0) {
          train = train.limit(trainRows);
        }
        long rows = train.count();
        RunSettings settings = settingsOf.get(task.name());
        List<Long> seeds = settings.numbers("seeds", SEEDS, List.of(19.0)).stream().map(Double::longValue).toList();
        taskSeeds.put(task.name(), seeds);
        for (long seed : seeds) {
          String init = FROM_MNLI.contains(task.name()) && mnliModels.containsKey(seed) ? mnliModels.get(seed)
              : args.has("from-scratch") ? "" : model;
          MosaicBertEstimator estimator = FineTuning.estimator(model, init, task.isRegression()
              ? TrainingObjective.REGRESSION : TrainingObjective.CLASSIFICATION,
              task.isRegression() ? 0 : task.labels().size(), "text", task.isPair() ? "text_pair" : "").setSeed(seed);
          settings.applyTo(estimator);
          settings.note("seed", seed);
          settings.note("init", init.isEmpty() ? "random weights" : init);
          settings.note("train_rows", rows);
          taskSettings.computeIfAbsent(task.name(), k -> new ArrayList<>()).add(new LinkedHashMap<>(
              settings.resolved()));
          LOG.info("GLUE {} seed {}: {} rows, {} steps of {}, from {}", task.name(), seed, rows,
              TrainPlan.totalSteps(estimator.settingValues(), rows),
              estimator.getOrDefault(estimator.globalBatchSize()), init.isEmpty() ? "random weights" : init);
          MosaicBertModel fitted = estimator.fit(train);
          String saved = output.resolve(task.name() + "-seed" + seed).toString();
          fitted.write().overwrite().save(saved);
          if (task.name().equals("MNLI")) {
            mnliModels.put(seed, saved);
          }
          fitted.setPrecision(precision);
          for (String devFile : task.devFiles()) {
            Dataset<Row> scored = fitted.transform(GlueReader.read(spark, task, dir.resolve(devFile)));
            for (GlueTask.Metric metric : task.metrics()) {
              double value = new GlueEvaluator().setMetricName(metric.key()).evaluate(scored);
              String key = metric.key() + (task.devFiles().size() > 1 ? " (" + devFile.replace(".tsv", "") + ")" : "");
              table.computeIfAbsent(task.name(), k -> new LinkedHashMap<>())
                  .computeIfAbsent(key, k -> new ArrayList<>()).add(value);
              results.computeIfAbsent(task.name(), k -> new ArrayList<>()).add(value);
            }
          }
        }
        seconds.put(task.name(), (System.nanoTime() - t0) / 1e9);
      }
    } finally {
      spark.stop();
    }
    GlueScore score = GlueScore.of(results);
    String markdown = markdown(table, taskSeeds, score, missing, seconds);
    out.print(markdown);
    Files.writeString(output.resolve("glue.md"), markdown, StandardCharsets.UTF_8);
    ObjectNode json = new ObjectMapper().createObjectNode();
    json.putPOJO("metrics", table);
    json.putPOJO("per_task", score.perTask());
    json.put("average", score.average());
    json.put("note", score.note());
    json.put("precision", precision);
    json.putPOJO("missing", missing);
    json.putPOJO("seconds", seconds);
    json.putPOJO("seeds", taskSeeds);
    Files.writeString(output.resolve("glue.json"), new ObjectMapper().writerWithDefaultPrettyPrinter()
        .writeValueAsString(json), StandardCharsets.UTF_8);
    Files.writeString(output.resolve("glue_args.json"), new ObjectMapper().writerWithDefaultPrettyPrinter()
        .writeValueAsString(taskSettings), StandardCharsets.UTF_8);
    return 0;
  }

  /** The table: one column per seed any task ran with (a task's cell is empty for a seed it did not run). */
  private static String markdown(Map<String, Map<String, List<Double>>> table, Map<String, List<Long>> taskSeeds,
      GlueScore score, List<String> missing, Map<String, Double> seconds) {
    List<Long> seeds = taskSeeds.values().stream().flatMap(List::stream).distinct().toList();
    StringBuilder s = new StringBuilder("| task | metric | ");
    seeds.forEach(seed -> s.append("seed ").append(seed).append(" | "));
    s.append("task score | time (s) |\n|---|---|");
    seeds.forEach(seed -> s.append("---|"));
    s.append("---|---|\n");
    table.forEach((task, metrics) -> metrics.forEach((metric, values) -> {
      s.append("| ").append(task).append(" | ").append(metric).append(" | ");
      for (long seed : seeds) {
        int run = taskSeeds.get(task).indexOf(seed);
        s.append(run < 0 ? "" : String.format("%.2f", 100 * values.get(run))).append(" | ");
      }
      s.append(String.format("%.2f", score.perTask().get(task))).append(" | ")
          .append(String.format("%.0f", seconds.get(task))).append(" |\n");
    }));
    s.append(String.format("%nGLUE average: %.2f (%s)%n", score.average(), score.note()));
    if (!missing.isEmpty()) {
      s.append("Tasks without train and dev data here: ").append(String.join(", ", missing)).append('\n');
    }
    return s.toString();
  }
}
