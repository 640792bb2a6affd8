package org.mosaicbert.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.data.ShardManifest;
import org.mosaicbert.data.TokenizeJob;
import org.mosaicbert.data.TrainVocabJob;
import org.mosaicbert.ml.HadoopCheckpointStore;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.ml.MosaicBertModel;
import org.mosaicbert.train.StepMetrics;
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
        model folder (config.json, model.safetensors, vocab.txt, tokenizer_config.json with the shards' casing,
        metadata/) to DIR. Checkpoints and metrics.jsonl go
        to DIR.checkpoints; running the same command again resumes from its newest checkpoint. Flags override the
        recipe, the recipe overrides the defaults; the resolved values are printed and saved as
        DIR/training_args.json. With no --data, the embedded English Europarl corpus is tokenized first (with a
        vocabulary trained on it, at the recipe's max_seq_len) into DIR.shards; a recipe's max_seq_len must be the
        length its shards were tokenized at.

          --data DIR          shards from mosaicbert tokenize (manifest.json, vocab.txt, shard-*.parquet)
          --output DIR        the model folder to write
          --preset NAME       tiny, mini, small, base or large (recipe: model.preset; default tiny)
          --overwrite         replace an existing model folder
        """ + TrainingSettings.HELP + """

        Defaults: 300 steps of 32, lr 2e-3 for tiny and 5e-4 otherwise, betas 0.9/0.98, eps 1e-6, weight decay
        1e-5, warmup 6%, alpha_f 0.02, 30% masking (the MosaicBERT recipe where it fits a small run).
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws IOException {
    Set<String> flags = new java.util.HashSet<>(TrainingSettings.FLAGS);
    flags.addAll(Set.of("data", "output", "preset"));
    Args args = Args.parse(name(), argv, flags, Set.of("overwrite"));
    String output = args.requiredString("output");
    Map<String, Object> recipe = args.has("recipe")
        ? Recipe.read(Path.of(args.requiredString("recipe")), Recipe.PRETRAINING, false) : Map.of();
    Settings settings = new Settings(name(), args, recipe);
    String preset = settings.choice("preset", "model.preset", "tiny", ModelConfig.PRESETS);
    String modelConfig = settings.text(null, "model.config", preset);
    SparkSession spark = SubcommandSpark.submittedOrLocal(name());
    long start = System.nanoTime();
    try {
      var conf = spark.sparkContext().hadoopConfiguration();
      String data = settings.text("data", null, output + ".shards");
      // Before any work: pretrain writes its output only after training.
      Outputs.check(output, "--output", args.has("overwrite"), conf, args.has("data") ? new String[] {data}
          : new String[0]);
      int maxSeqLen = settings.integer(null, "max_seq_len", TokenizeJob.DEFAULT_MAX_SEQ_LEN, 2);
      if (!args.has("data")) {
        if (!new org.apache.hadoop.fs.Path(data, ShardManifest.FILE_NAME).getFileSystem(conf)
            .exists(new org.apache.hadoop.fs.Path(data, ShardManifest.FILE_NAME))) {
          LOG.info("no --data: tokenizing the embedded default corpus into {}", data);
          TokenizeJob.run(spark, new TokenizeJob.Options(null, null, data, maxSeqLen, null,
              TokenizeJob.DEFAULT_TEXT_COLUMN, 0, false, false, false, TrainVocabJob.DEFAULT_VOCAB_SIZE));
        }
      }
      ShardManifest manifest = ShardManifest.read(new org.apache.hadoop.fs.Path(data), conf);
      if (recipe.containsKey("max_seq_len") && manifest.maxSeqLen() != maxSeqLen) {
        // Samples are cut when tokenized: training at the recipe's length needs shards tokenized at it.
        throw new IllegalArgumentException("recipe key max_seq_len = " + maxSeqLen + ", but the shards in " + data
            + " were tokenized at max_seq_len " + manifest.maxSeqLen() + "; tokenize them again with "
            + "`mosaicbert tokenize --max-seq-len " + maxSeqLen + "`, or remove the key to train at the shards' length");
      }
      String checkpoints = output + ".checkpoints";
      Path vocab = localVocab(data, conf);
      MosaicBertEstimator estimator = new MosaicBertEstimator().setModelConfig(modelConfig)
          .setVocab(vocab.toString()).setCheckpointDir(checkpoints).setMaxSeqLen(Math.max(manifest.maxSeqLen(), 2))
          .setMaskProbability(settings.number(null, "mlm_probability", 0.3, 1e-6, 1 - 1e-6));
      long steps = TrainingSettings.configure(settings, estimator, new TrainingSettings.Defaults(
          preset.equals("tiny") ? 2e-3 : 5e-4, 1e-5, 0.02, 32, "300ba"), manifest.totalRows());
      int batch = (Integer) estimator.getOrDefault(estimator.globalBatchSize());
      int workers = (Integer) estimator.getOrDefault(estimator.numWorkers());
      settings.note("output", output);
      settings.note("checkpoints", checkpoints);
      String resolvedJson = settings.json();
      LOG.info("pretrain, resolved settings:\n{}", resolvedJson);

      Dataset<Row> shards = spark.read().parquet(manifest.shards().stream()
          .map(s -> new org.apache.hadoop.fs.Path(data, s.path()).toString()).toArray(String[]::new));
      MosaicBertModel model = estimator.fit(shards); // shows progress, writes metrics.jsonl and loss.png
      (args.has("overwrite") ? model.write().overwrite() : model.write()).save(output);
      settings.save(output, "training_args.json", conf);
      double seconds = (System.nanoTime() - start) / 1e9;
      out.printf("model: %s (%s preset, %d steps of %d sequences, %d worker(s))%n", output, modelConfig, steps, batch,
          workers);
      List<StepMetrics> metrics = HadoopCheckpointStore.readMetrics(checkpoints, conf);
      if (!metrics.isEmpty()) {
        StepMetrics first = metrics.get(0);
        StepMetrics last = metrics.get(metrics.size() - 1);
        out.printf("loss: %.3f at step %d -> %.3f at step %d, %.0f tokens/s (metrics and loss.png in %s)%n",
            first.loss(), first.step(), last.loss(), last.step(), last.tokensPerSecond(), checkpoints);
      }
      out.printf("time: %.1f s%n", seconds);
      return 0;
    } finally {
      spark.stop();
    }
  }

  /**
   * The shards' vocab.txt on the local disk (the estimator reads it on the driver): the file itself when the shards
   * are local, else a copy deleted when the JVM exits.
   */
  private static Path localVocab(String data, org.apache.hadoop.conf.Configuration conf) throws IOException {
    org.apache.hadoop.fs.Path remote = new org.apache.hadoop.fs.Path(data, "vocab.txt");
    org.apache.hadoop.fs.FileSystem fs = remote.getFileSystem(conf);
    if (fs instanceof org.apache.hadoop.fs.LocalFileSystem) {
      return Path.of(fs.makeQualified(remote).toUri());
    }
    Path local = Files.createTempFile("mosaicbert-vocab", ".txt");
    fs.copyToLocalFile(false, remote, new org.apache.hadoop.fs.Path(local.toString()), true);
    local.toFile().deleteOnExit();
    return local;
  }
}
