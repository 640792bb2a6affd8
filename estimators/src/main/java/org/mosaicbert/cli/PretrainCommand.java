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
import org.mosaicbert.data.LiteralPaths;
import org.mosaicbert.data.ShardManifest;
import org.mosaicbert.data.TokenizeJob;
import org.mosaicbert.data.TrainVocabJob;
import org.mosaicbert.ml.HadoopCheckpointStore;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.ml.MosaicBertModel;
import org.mosaicbert.ml.OutputLock;
import org.mosaicbert.train.LocalCheckpointStore;
import org.mosaicbert.train.Setting;
import org.mosaicbert.train.SettingValues;
import org.mosaicbert.train.StepMetrics;
import org.mosaicbert.train.TrainPlan;
import org.mosaicbert.train.TrainingSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code pretrain}: MLM pretraining with {@link MosaicBertEstimator}; the fitted model folder goes to --output. */
final class PretrainCommand implements Subcommand {
  private static final Logger LOG = LoggerFactory.getLogger(PretrainCommand.class);
  /** Start over: delete the model folder and its checkpoints, then train from step 0. */
  static final String OVERWRITE = "overwrite";
  /** Train a run further from its newest checkpoint, to a larger number of steps. */
  static final String CONTINUE = "continue";

  @Override
  public String name() {
    return "pretrain";
  }

  @Override
  public String summary() {
    return "pretrain MosaicBERT (MLM) on training shards; default: the embedded corpus, tiny preset";
  }

  /**
   * Pretraining's defaults where they are not the declared ones (MosaicBERT-Base's recipe, fitted to a short run).
   *
   * @param shardsSeqLen the length the shards were tokenized at
   */
  private static RunSettings.Defaults defaults(int shardsSeqLen) {
    return RunSettings.Defaults.training()
        .value(TrainingSettings.MAX_STEPS, 300L)
        .computed(TrainingSettings.LR, "2e-3 for the tiny preset, else 5e-4",
            v -> v.get(TrainingSettings.MODEL_CONFIG).equals("tiny") ? 2e-3 : 5e-4)
        .computed(TrainingSettings.MAX_SEQ_LEN, "the shards' length", v -> shardsSeqLen);
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert pretrain [--data SHARDS_DIR] --output DIR [--recipe conf/NAME.yaml] [flags]

        Trains with MosaicBertEstimator (Spark barrier mode, one task per worker, TCP ring allreduce) and writes the
        model folder (config.json, model.safetensors, vocab.txt, tokenizer_config.json with the shards' casing,
        metadata/) to DIR. Checkpoints, metrics.jsonl and loss.png go to DIR.checkpoints. Flags override the recipe,
        the recipe overrides the defaults; the resolved values are printed and saved as DIR/training_args.json. With
        no --data, the embedded English Europarl corpus is tokenized first (with a vocabulary trained on it, at
        --max-seq-len, default 128) into DIR.shards.

        Running it again. Stopped before DIR was written (a crash, a kill, Ctrl-C), the same command resumes from
        the newest checkpoint in DIR.checkpoints; a resume with other settings is refused unless
        --allow-changed-settings. Once DIR is written the run is complete, and the same command is refused:
        --overwrite starts over, --continue trains further.

          --data DIR            shards from mosaicbert tokenize (manifest.json, vocab.txt, shard-*.parquet)
          --output DIR          the model folder to write
          --overwrite           start over from step 0: deletes DIR and DIR.checkpoints (metrics.jsonl, loss.png)
                                first, once no other run holds them. DIR.shards stays: it is data, not training
                                state (delete it to tokenize the default corpus again)
          --continue            train the run in DIR.checkpoints further, from its newest checkpoint up to the
                                --max-steps (or --max-epochs) given now, which must be more than it has trained
                                (there is nothing to do when it is already there), then replace DIR. The
                                learning-rate schedule becomes that of the new length, so the rate rises again from
                                where it ended. Other changed settings are refused unless --allow-changed-settings
          --allow-changed-settings
                                resume from checkpoints trained with other settings: each change is logged and
                                written beside the checkpoint
        """ + RunSettings.help(Setting.Run.PRETRAINING, defaults(0));
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws IOException {
    Set<String> flags = new java.util.HashSet<>(RunSettings.flags(Setting.Run.PRETRAINING));
    flags.addAll(Set.of("data", "output"));
    Args args = Args.parse(name(), argv, flags, Set.of(OVERWRITE, CONTINUE, "allow-changed-settings"));
    String output = args.requiredString("output");
    boolean overwrite = args.has(OVERWRITE);
    boolean extend = args.has(CONTINUE);
    if (overwrite && extend) {
      throw new UsageException(name() + ": give --" + OVERWRITE + " (start over) or --" + CONTINUE
          + " (train further), not both");
    }
    Recipe recipe = args.has("recipe") ? Recipe.read(Path.of(args.requiredString("recipe")),
        RunSettings.recipeKeys(Setting.Run.PRETRAINING), false) : Recipe.NONE;
    RunSettings settings = new RunSettings(name(), Setting.Run.PRETRAINING, args, recipe);
    settings.resolve(defaults(TokenizeJob.DEFAULT_MAX_SEQ_LEN)); // a bad value fails now, not after tokenizing
    SparkSession spark = SubcommandSpark.submittedOrLocal(name());
    long start = System.nanoTime();
    try {
      var conf = spark.sparkContext().hadoopConfiguration();
      String data = args.string("data", output + ".shards");
      String checkpoints = output + ".checkpoints";
      OutputLock outputLock = Outputs.claim(output, "--output", name(), conf);
      OutputLock checkpointLock = Outputs.claim(checkpoints, "--output's checkpoint folder", name(), conf);
      if (!args.has("data")) {
        Outputs.claim(data, "--output's shards", name(), conf);
      }
      // Before any work: pretrain writes its output only after training, and --overwrite deletes both.
      String[] inputs = args.has("data") ? new String[] {data} : new String[0];
      Outputs.refuseInputs(output, "--output", conf, inputs);
      Outputs.refuseInputs(checkpoints, "--output's checkpoint folder", conf, inputs);
      if (!overwrite && !extend && Outputs.exists(output, conf)) {
        throw new IllegalArgumentException(finishedRun(output, checkpoints, conf));
      }
      Outputs.requireWritable(output, "--output", conf);
      Integer givenSeqLen = settings.given(TrainingSettings.MAX_SEQ_LEN);
      if (!args.has("data")) {
        if (!new org.apache.hadoop.fs.Path(data, ShardManifest.FILE_NAME).getFileSystem(conf)
            .exists(new org.apache.hadoop.fs.Path(data, ShardManifest.FILE_NAME))) {
          LOG.info("no --data: tokenizing the embedded default corpus into {}", data);
          TokenizeJob.run(spark, new TokenizeJob.Options(null, null, data, givenSeqLen != null ? givenSeqLen
              : TokenizeJob.DEFAULT_MAX_SEQ_LEN, null, TokenizeJob.DEFAULT_TEXT_COLUMN, 0, false, false, false,
              TrainVocabJob.DEFAULT_VOCAB_SIZE));
        }
      }
      ShardManifest manifest = ShardManifest.read(LiteralPaths.of(data), conf);
      if (givenSeqLen != null && manifest.maxSeqLen() != givenSeqLen) {
        // Samples are cut when tokenized: training at another length needs shards tokenized at it.
        throw new IllegalArgumentException("max_seq_len = " + givenSeqLen + " (--max-seq-len or the recipe), but "
            + "the shards in " + data + " were tokenized at max_seq_len " + manifest.maxSeqLen() + "; "
            + (args.has("data") ? "tokenize them again with `mosaicbert tokenize --max-seq-len " + givenSeqLen + "`"
                : "delete " + data + " to tokenize the default corpus again at " + givenSeqLen + " (--"
                + OVERWRITE + " keeps it)") + ", or leave it out to train at the shards' length");
      }
      Path vocab = localVocab(data, conf);
      SettingValues values = settings.resolve(defaults(manifest.maxSeqLen())); // the shards' length known now
      MosaicBertEstimator estimator = new MosaicBertEstimator().setVocab(vocab.toString())
          .setCheckpointDir(checkpoints).setAllowChangedSettings(args.has("allow-changed-settings"));
      settings.applyTo(estimator);
      long steps = TrainPlan.totalSteps(values, manifest.totalRows());
      if (extend) {
        long trained = HadoopCheckpointStore.newestStep(checkpoints, conf);
        checkExtension(estimator, checkpoints, trained, steps, args.has("allow-changed-settings"), conf);
        if (trained == steps && Outputs.exists(output, conf)) {
          out.printf("model: %s is complete at step %d of %d: nothing to train (--%s with a larger --max-steps "
              + "trains further)%n", output, trained, steps, CONTINUE);
          return 0;
        }
        // The run's new length is the change --continue asks for; ResumeCheck logs it and writes it beside the
        // checkpoints, as it does any allowed change.
        estimator.setAllowChangedSettings(true);
      }
      if (overwrite) {
        // Checkpoints first: stopped in between, the rerun finds a finished run's model and no state to resume.
        boolean hadCheckpoints = checkpointLock.deleteTarget();
        boolean hadModel = outputLock.deleteTarget();
        if (hadCheckpoints || hadModel) {
          LOG.info("--{}: deleted {}{}{}; training starts over from step 0{}", OVERWRITE, hadModel ? output : "",
              hadModel && hadCheckpoints ? " and " : "", hadCheckpoints ? checkpoints : "",
              args.has("data") ? "" : " (the shards in " + data + " stay)");
        }
      }
      settings.note("output", output);
      settings.note("checkpoints", checkpoints);
      LOG.info("pretrain, resolved settings:\n{}", settings.json());

      List<String> shardPaths = new java.util.ArrayList<>();
      for (ShardManifest.Shard shard : manifest.shards()) {
        shardPaths.add(LiteralPaths.forSpark(new org.apache.hadoop.fs.Path(LiteralPaths.of(data), shard.path()), conf));
      }
      Dataset<Row> shards = spark.read().parquet(shardPaths.toArray(String[]::new));
      long resumedFrom = HadoopCheckpointStore.newestStep(checkpoints, conf);
      Interruption.whereTheWorkIs(() -> lastCheckpoint(checkpoints, steps, conf));
      MosaicBertModel model = estimator.fit(shards); // shows progress, writes metrics.jsonl and loss.png
      (extend ? model.write().overwrite() : model.write()).save(output);
      settings.save(output, "training_args.json", conf);
      double seconds = (System.nanoTime() - start) / 1e9;
      out.printf("model: %s (%s preset, %d steps of %d sequences, %d worker(s))%n", output,
          values.get(TrainingSettings.MODEL_CONFIG), steps, values.get(TrainingSettings.GLOBAL_BATCH_SIZE),
          values.get(TrainingSettings.NUM_WORKERS));
      // This run's steps: the metrics log holds those of the run it resumed, too.
      List<StepMetrics> metrics = HadoopCheckpointStore.readMetrics(checkpoints, conf).stream()
          .filter(m -> m.step() > resumedFrom).toList();
      String resumed = resumedFrom > 0 ? ", resumed from the checkpoint of step " + resumedFrom : "";
      if (!metrics.isEmpty()) {
        StepMetrics first = metrics.get(0);
        StepMetrics last = metrics.get(metrics.size() - 1);
        out.printf("loss: %.3f at step %d -> %.3f at step %d, %.0f tokens/s%s (metrics and loss.png in %s)%n",
            first.loss(), first.step(), last.loss(), last.step(), last.tokensPerSecond(), resumed, checkpoints);
      } else if (resumedFrom > 0) {
        out.printf("loss: no step left to train%s (metrics and loss.png in %s)%n", resumed, checkpoints);
      }
      out.printf("time: %.1f s%n", seconds);
      return 0;
    } finally {
      spark.stop();
      Outputs.releaseClaims();
    }
  }

  /**
   * Why the same command is refused once the run that wrote {@code output} is complete, and the two ways on: start
   * over, or train further from the newest checkpoint when there is one.
   */
  private static String finishedRun(String output, String checkpoints, org.apache.hadoop.conf.Configuration conf)
      throws IOException {
    long newest = HadoopCheckpointStore.newestStep(checkpoints, conf);
    if (newest == 0) {
      return "--output " + output + " exists, and " + checkpoints + " holds no checkpoint of the run that wrote it: "
          + "give --" + OVERWRITE + " to delete it and train a new model from step 0, or another --output";
    }
    return "--output " + output + " exists: the run that wrote it is complete (its newest checkpoint is step "
        + newest + ", in " + checkpoints + "), and running the same command again would train nothing. Give --"
        + OVERWRITE + " to start over from step 0 (deletes " + output + " and " + checkpoints + "; the shards "
        + "stay), or --" + CONTINUE + " with a larger --max-steps to train it further from step " + newest;
  }

  /**
   * Refuses a {@code --continue} that cannot train further: no checkpoint, fewer steps than trained, or settings
   * other than the run's length changed without --allow-changed-settings (the length alone is what it changes).
   *
   * @param trained the step of the newest checkpoint
   * @param steps the run's length now
   */
  private static void checkExtension(MosaicBertEstimator estimator, String checkpoints, long trained, long steps,
      boolean allowChangedSettings, org.apache.hadoop.conf.Configuration conf) throws IOException {
    if (trained == 0) {
      throw new IllegalArgumentException("--" + CONTINUE + ": " + checkpoints + " holds no checkpoint to train "
          + "further from; leave out --" + CONTINUE + " to start a run");
    }
    if (steps < trained) {
      throw new IllegalArgumentException("--" + CONTINUE + ": the run in " + checkpoints + " has trained " + trained
          + " steps, more than the " + steps + " asked now; give a larger --max-steps to train further, or --"
          + OVERWRITE + " to start over with " + steps);
    }
    Map<String, String> recorded = HadoopCheckpointStore.newestSettings(checkpoints, conf);
    SettingValues sameLength = estimator.settingValues();
    for (Setting<?> length : List.of(TrainingSettings.MAX_STEPS, TrainingSettings.MAX_EPOCHS)) {
      if (recorded.containsKey(length.param())) {
        sameLength = sameLength.with(length, recorded.get(length.param()));
      }
    }
    List<String> changes = sameLength.changesFrom(recorded);
    if (!changes.isEmpty() && !allowChangedSettings) {
      throw new IllegalArgumentException("--" + CONTINUE + " changes the run's length only, but the run in "
          + checkpoints + " was trained with other settings:\n  " + String.join("\n  ", changes) + "\ngive them "
          + "as they were, or add --allow-changed-settings if the change is meant");
    }
  }

  /** Where a stopped run's work is: its newest checkpoint, which the same command resumes from. */
  private static String lastCheckpoint(String checkpoints, long steps, org.apache.hadoop.conf.Configuration conf) {
    long newest;
    try {
      newest = HadoopCheckpointStore.newestStep(checkpoints, conf);
    } catch (IOException e) {
      return "its checkpoints are in " + checkpoints + " (unreadable now: " + e.getMessage() + ")";
    }
    return newest == 0 ? "it wrote no checkpoint yet, so the same command starts over"
        : "the last checkpoint is " + new org.apache.hadoop.fs.Path(checkpoints, LocalCheckpointStore.stepFolder(
            newest)) + " (step " + newest + " of " + steps + "): the same command resumes from it";
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
