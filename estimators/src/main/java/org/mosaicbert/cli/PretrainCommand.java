package org.mosaicbert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.data.ShardManifest;
import org.mosaicbert.data.TokenizeJob;
import org.mosaicbert.data.TrainVocabJob;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.ml.MosaicBertModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code pretrain}: MLM pretraining with {@link MosaicBertEstimator}; the fitted model folder goes to --output. */
final class PretrainCommand implements Subcommand {
  private static final Logger LOG = LoggerFactory.getLogger(PretrainCommand.class);

  @Override
  public String name() {
    return "pretrain";
  }

  @Override
  public String summary() {
    return "pretrain MosaicBERT (MLM) on training shards; default: the embedded corpus, tiny preset";
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert pretrain [--data SHARDS_DIR] --output DIR [--recipe conf/NAME.yaml] [flags]

        Trains with MosaicBertEstimator (Spark barrier mode, one task per worker, TCP ring allreduce) and writes the
        model folder (config.json, model.safetensors, vocab.txt, metadata/) to DIR. Checkpoints and metrics.jsonl go
        to DIR.checkpoints; running the same command again resumes from its newest checkpoint. Flags override the
        recipe, the recipe overrides the defaults; the resolved values are printed and saved as
        DIR/training_args.json. With no --data, the embedded English Europarl corpus is tokenized first (with a
        vocabulary trained on it) into DIR.shards.

          --data DIR          shards from mosaicbert tokenize (manifest.json, vocab.txt, shard-*.parquet)
          --output DIR        the model folder to write
          --recipe FILE       a YAML recipe (conf/tiny.yaml, conf/mosaic-bert-base-uncased.yaml)
          --preset NAME       tiny, mini, small, base or large (recipe: model.preset; default tiny)
          --workers N         data-parallel workers (recipe: workers; default 1)
          --max-steps N       optimizer steps (recipe: max_duration; default 300)
          --batch N           global batch (recipe: global_train_batch_size; default 32)
          --micro-batch N     per-worker micro-batch (recipe: device_train_microbatch_size; default 32)
          --lr X              peak learning rate (recipe: optimizer.lr; default 2e-3 for tiny, 5e-4 otherwise)
          --seed S            seed (recipe: seed; default 17)
          --threads N         CPU threads per worker (recipe: threads_per_worker; default: cores / workers)
          --overwrite         replace an existing model folder
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws IOException {
    Args args = Args.parse(name(), argv, Set.of("data", "output", "recipe", "preset", "workers", "max-steps", "batch",
        "micro-batch", "lr", "seed", "threads"), Set.of("overwrite"));
    String output = args.requiredString("output");
    Map<String, Object> recipe = args.has("recipe") ? Recipe.read(Path.of(args.requiredString("recipe"))) : Map.of();
    if (!Recipe.OPTIMIZERS.contains(Recipe.text(recipe, "optimizer.name", "decoupled_adamw"))
        || !Recipe.SCHEDULERS.contains(Recipe.text(recipe, "scheduler.name", "linear_decay_with_warmup"))) {
      throw new UsageException("pretrain supports optimizer.name decoupled_adamw and scheduler.name "
          + "linear_decay_with_warmup");
    }
    String preset = args.string("preset", Recipe.text(recipe, "model.preset", "tiny"));
    String modelConfig = Recipe.text(recipe, "model.config", preset);
    int workers = args.intValue("workers", (int) Recipe.number(recipe, "workers", 1), 1);
    int batch = args.intValue("batch", (int) Recipe.number(recipe, "global_train_batch_size", 32), 1);
    int micro = args.intValue("micro-batch", (int) Recipe.number(recipe, "device_train_microbatch_size", 32), 1);
    int cores = Runtime.getRuntime().availableProcessors();
    int threads = args.intValue("threads", (int) Recipe.number(recipe, "threads_per_worker",
        Math.max(1, cores / workers)), 1);
    long seed = Long.parseLong(args.string("seed", Recipe.text(recipe, "seed", "17")));
    double lr = Double.parseDouble(args.string("lr", Recipe.text(recipe, "optimizer.lr",
        preset.equals("tiny") ? "2e-3" : "5e-4")));
    List<?> betas = Recipe.list(recipe, "optimizer.betas");
    SparkSession spark = LocalSpark.session(name());
    long start = System.nanoTime();
    try {
      var conf = spark.sparkContext().hadoopConfiguration();
      String data = args.string("data", output + ".shards");
      if (!args.has("data")) {
        if (!new org.apache.hadoop.fs.Path(data, ShardManifest.FILE_NAME).getFileSystem(conf)
            .exists(new org.apache.hadoop.fs.Path(data, ShardManifest.FILE_NAME))) {
          LOG.info("no --data: tokenizing the embedded default corpus into {}", data);
          TokenizeJob.run(spark, new TokenizeJob.Options(null, null, data,
              (int) Recipe.number(recipe, "max_seq_len", TokenizeJob.DEFAULT_MAX_SEQ_LEN), null,
              TokenizeJob.DEFAULT_TEXT_COLUMN, 0, false, false, false, TrainVocabJob.DEFAULT_VOCAB_SIZE));
        }
      }
      ShardManifest manifest = ShardManifest.read(new org.apache.hadoop.fs.Path(data), conf);
      long steps = args.has("max-steps") ? args.intValue("max-steps", 300, 1)
          : recipe.containsKey("max_duration") ? Recipe.steps(Recipe.text(recipe, "max_duration", ""), batch,
              manifest.totalRows()) : 300;
      String checkpoints = output + ".checkpoints";
      Path vocab = localVocab(data, conf);
      MosaicBertEstimator estimator = new MosaicBertEstimator()
          .setModelConfig(modelConfig).setVocab(vocab.toString()).setNumWorkers(workers).setThreadsPerWorker(threads)
          .setGlobalBatchSize(batch).setMicroBatchSize(Math.min(micro, batch / workers)).setMaxSteps(steps)
          .setLr(lr).setEps(Recipe.number(recipe, "optimizer.eps", 1e-6))
          .setWeightDecay(Recipe.number(recipe, "optimizer.weight_decay", 1e-5))
          .setBeta1(betas == null ? 0.9 : ((Number) betas.get(0)).doubleValue())
          .setBeta2(betas == null ? 0.98 : ((Number) betas.get(1)).doubleValue())
          .setWarmupFraction(Recipe.fraction(Recipe.text(recipe, "scheduler.t_warmup", "0.06dur")))
          .setAlphaF(Recipe.number(recipe, "scheduler.alpha_f", 0.02))
          .setMaskProbability(Recipe.number(recipe, "mlm_probability", 0.3)).setSeed(seed)
          .setCheckpointDir(checkpoints)
          .setCheckpointEvery((int) Recipe.number(recipe, "checkpoint_every", Math.max(1, Math.min(100, steps / 3))))
          .setMetricsEvery((int) Recipe.number(recipe, "metrics_every", 10))
          .setMaxSeqLen(Math.max(manifest.maxSeqLen(), 2));
      Map<String, Object> resolved = new LinkedHashMap<>();
      resolved.put("data", data);
      resolved.put("output", output);
      for (var pair : estimator.extractParamMap().toList()) {
        resolved.put(pair.param().name(), pair.value());
      }
      String resolvedJson = new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(resolved);
      LOG.info("pretrain, resolved settings:\n{}", resolvedJson);

      Dataset<Row> shards = spark.read().parquet(manifest.shards().stream()
          .map(s -> new org.apache.hadoop.fs.Path(data, s.path()).toString()).toArray(String[]::new));
      MosaicBertModel model = estimator.fit(shards); // shows progress, writes metrics.jsonl and loss.png
      (args.has("overwrite") ? model.write().overwrite() : model.write()).save(output);
      org.apache.hadoop.fs.Path argsFile = new org.apache.hadoop.fs.Path(output, "training_args.json");
      try (var stream = argsFile.getFileSystem(conf).create(argsFile, true)) {
        stream.write(resolvedJson.getBytes(StandardCharsets.UTF_8));
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      out.printf("model: %s (%s preset, %d steps of %d sequences, %d worker(s))%n", output, modelConfig, steps, batch,
          workers);
      List<JsonNode> metrics = readMetrics(checkpoints, conf);
      if (!metrics.isEmpty()) {
        JsonNode first = metrics.get(0);
        JsonNode last = metrics.get(metrics.size() - 1);
        out.printf("loss: %.3f at step %d -> %.3f at step %d, %.0f tokens/s (metrics and loss.png in %s)%n",
            first.path("loss").asDouble(), first.path("step").asLong(), last.path("loss").asDouble(),
            last.path("step").asLong(), last.path("tokens_per_s").asDouble(), checkpoints);
      }
      out.printf("time: %.1f s%n", seconds);
      return 0;
    } finally {
      spark.stop();
    }
  }

  /** The shards' vocab.txt on the local disk (the estimator reads it on the driver). */
  private static Path localVocab(String data, org.apache.hadoop.conf.Configuration conf) throws IOException {
    org.apache.hadoop.fs.Path remote = new org.apache.hadoop.fs.Path(data, "vocab.txt");
    Path local = Files.createTempFile("mosaicbert-vocab", ".txt");
    remote.getFileSystem(conf).copyToLocalFile(false, remote, new org.apache.hadoop.fs.Path(local.toString()), true);
    local.toFile().deleteOnExit();
    return local;
  }

  private static List<JsonNode> readMetrics(String checkpoints, org.apache.hadoop.conf.Configuration conf)
      throws IOException {
    org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(checkpoints, "metrics.jsonl");
    List<JsonNode> out = new ArrayList<>();
    if (!file.getFileSystem(conf).exists(file)) {
      return out;
    }
    try (InputStream stream = file.getFileSystem(conf).open(file)) {
      for (String line : new String(stream.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (!line.isBlank()) {
          out.add(new ObjectMapper().readTree(line));
        }
      }
    }
    return out;
  }
}
