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
import org.mosaicbert.glue.GlueReader;
import org.mosaicbert.glue.GlueScore;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.ml.GlueEvaluator;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.ml.MosaicBertModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code glue}: fine-tunes a model on each GLUE task that has train and dev data (recipe hyperparameters, spec section
 * 4), chains RTE, MRPC and STS-B from MNLI when MNLI ran, and prints the GLUE table as the recipe computes it.
 */
final class GlueCommand implements Subcommand {
  private static final Logger LOG = LoggerFactory.getLogger(GlueCommand.class);

  /** lr, weight decay, epochs, batch of each task (spec section 4). */
  private static final Map<String, double[]> RECIPE = new LinkedHashMap<>();

  static {
    RECIPE.put("MNLI", new double[] {5e-5, 5e-6, 3, 48});
    RECIPE.put("QNLI", new double[] {1e-5, 1e-6, 10, 16});
    RECIPE.put("QQP", new double[] {3e-5, 3e-6, 5, 16});
    RECIPE.put("SST-2", new double[] {3e-5, 3e-6, 3, 16});
    RECIPE.put("CoLA", new double[] {5e-5, 5e-6, 10, 32});
    RECIPE.put("RTE", new double[] {1e-5, 1e-5, 3, 16});
    RECIPE.put("MRPC", new double[] {8e-5, 8e-6, 10, 32});
    RECIPE.put("STS-B", new double[] {3e-5, 3e-6, 10, 32});
    RECIPE.put("WNLI", new double[] {1e-5, 1e-5, 3, 16});
  }

  private static final Set<String> FROM_MNLI = Set.of("RTE", "MRPC", "STS-B");

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
        usage: mosaicbert glue --model DIR --data GLUE_DIR --output OUT [--tasks CoLA,SST-2,...] [--seeds 19,8364]

        For each task with TASK/train.tsv and its dev file(s) under GLUE_DIR: fine-tune from DIR (RTE, MRPC and STS-B
        from the MNLI model when MNLI ran, as the recipe does), score dev with the recipe's metrics, and print per
        task, metric and seed, then the GLUE average as the recipe computes it (WNLI scored but not averaged; fewer
        than eight tasks is said to be not comparable with 84.3). Writes OUT/glue.json and OUT/glue.md.

          --model DIR        a model folder (pretrain's output)
          --data GLUE_DIR    GLUE TSVs, one folder per task
          --output OUT       where glue.json, glue.md and the fine-tuned models go
          --tasks LIST       tasks to run (default: every task with data)
          --seeds LIST       seeds (default 19)
          --from-scratch     use DIR's config and vocabulary but random weights (the baseline)
          --max-seq-len N    tokens per example (default 256, the recipe's)
          --max-steps N      cap on steps per task (default: the recipe's epochs)
          --train-rows N     cap on training rows per task (default: all)
          --workers N        data-parallel workers (default 1)
          --lr X             one learning rate for every task instead of the recipe's (small models, short runs)
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws Exception {
    Args args = Args.parse(name(), argv, Set.of("model", "data", "output", "tasks", "seeds", "max-seq-len",
        "max-steps", "train-rows", "workers", "lr"), Set.of("from-scratch"));
    String model = args.requiredString("model");
    Path data = args.path("data");
    Path output = args.path("output");
    List<String> taskNames = args.has("tasks") ? Arrays.asList(args.requiredString("tasks").split(","))
        : GlueTask.ALL.stream().map(GlueTask::name).toList();
    List<Long> seeds = Arrays.stream(args.string("seeds", "19").split(",")).map(String::trim).map(Long::parseLong)
        .toList();
    int maxSeqLen = args.intValue("max-seq-len", 256, 3);
    int maxSteps = args.intValue("max-steps", 0, 1);
    int trainRows = args.intValue("train-rows", 0, 1);
    int workers = args.intValue("workers", 1, 1);
    Path vocab = Path.of(model, "vocab.txt");
    if (!Files.exists(vocab)) {
      throw new IllegalArgumentException(model + " is not a local model folder: it has no vocab.txt");
    }
    Files.createDirectories(output);
    // MNLI first, so the tasks the recipe chains from it can start from its model.
    List<GlueTask> tasks = new ArrayList<>();
    taskNames.stream().map(GlueTask::named).filter(t -> t.name().equals("MNLI")).forEach(tasks::add);
    taskNames.stream().map(GlueTask::named).filter(t -> !t.name().equals("MNLI")).forEach(tasks::add);
    Map<String, List<Double>> results = new LinkedHashMap<>();
    Map<String, Map<String, List<Double>>> table = new LinkedHashMap<>();
    List<String> missing = new ArrayList<>();
    Map<String, Double> seconds = new LinkedHashMap<>();
    SparkSession spark = LocalSpark.session(name());
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
        double[] recipe = RECIPE.get(task.name());
        long rows = train.count();
        for (long seed : seeds) {
          String init = FROM_MNLI.contains(task.name()) && mnliModels.containsKey(seed) ? mnliModels.get(seed)
              : args.has("from-scratch") ? "" : model;
          int batch = (int) recipe[3];
          long steps = Math.max(1, (long) Math.ceil(recipe[2] * rows / batch));
          if (maxSteps > 0) {
            steps = Math.min(steps, maxSteps);
          }
          MosaicBertEstimator estimator = new MosaicBertEstimator()
              .setObjective(task.isRegression() ? "regression" : "classification")
              .setNumLabels(task.isRegression() ? 0 : task.labels().size())
              .setVocab(vocab.toString()).setModelConfig(Path.of(model, "config.json").toString())
              .setInitModel(init).setTextCol("text").setTextPairCol(task.isPair() ? "text_pair" : "")
              .setMaxSeqLen(maxSeqLen).setGlobalBatchSize(batch).setMicroBatchSize(batch / workers)
              .setNumWorkers(workers).setMaxSteps(steps)
              .setLr(args.has("lr") ? Double.parseDouble(args.requiredString("lr")) : recipe[0])
              .setWeightDecay(recipe[1])
              .setWarmupFraction(0.06).setAlphaF(0.0).setSeed(seed);
          LOG.info("GLUE {} seed {}: {} rows, {} steps of {}, from {}", task.name(), seed, rows, steps, batch,
              init.isEmpty() ? "random weights" : init);
          MosaicBertModel fitted = estimator.fit(train);
          String saved = output.resolve(task.name() + "-seed" + seed).toString();
          fitted.write().overwrite().save(saved);
          if (task.name().equals("MNLI")) {
            mnliModels.put(seed, saved);
          }
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
    String markdown = markdown(table, seeds, score, missing, seconds);
    out.print(markdown);
    Files.writeString(output.resolve("glue.md"), markdown, StandardCharsets.UTF_8);
    ObjectNode json = new ObjectMapper().createObjectNode();
    json.putPOJO("metrics", table);
    json.putPOJO("per_task", score.perTask());
    json.put("average", score.average());
    json.put("note", score.note());
    json.putPOJO("missing", missing);
    json.putPOJO("seconds", seconds);
    json.putPOJO("seeds", seeds);
    Files.writeString(output.resolve("glue.json"), new ObjectMapper().writerWithDefaultPrettyPrinter()
        .writeValueAsString(json), StandardCharsets.UTF_8);
    return 0;
  }

  private static String markdown(Map<String, Map<String, List<Double>>> table, List<Long> seeds, GlueScore score,
      List<String> missing, Map<String, Double> seconds) {
    StringBuilder s = new StringBuilder("| task | metric | ");
    seeds.forEach(seed -> s.append("seed ").append(seed).append(" | "));
    s.append("task score | time (s) |\n|---|---|");
    seeds.forEach(seed -> s.append("---|"));
    s.append("---|---|\n");
    table.forEach((task, metrics) -> metrics.forEach((metric, values) -> {
      s.append("| ").append(task).append(" | ").append(metric).append(" | ");
      values.forEach(v -> s.append(String.format("%.2f", 100 * v)).append(" | "));
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
