package org.mosaicbert.examples;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.ml.feature.SQLTransformer;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.data.TokenizeJob;
import org.mosaicbert.data.TrainVocabJob;
import org.mosaicbert.glue.GlueReader;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.ml.MosaicBertModel;

/**
 * The README's "Quick start 2" as a program: pretrains a tiny MosaicBERT, fine-tunes it on SST-2 inside a Pipeline,
 * scores the dev set, saves the PipelineModel and loads it back. It ends by returning from {@code main}.
 *
 * <pre>
 * QuickStart GLUE_DIR [--shards DIR] [--work DIR] [--pretrain-steps N] [--finetune-steps N]
 * </pre>
 *
 * GLUE_DIR holds {@code SST-2/train.tsv} and {@code SST-2/dev.tsv}. Everything goes under the work folder (default
 * {@code work}). The shards (default {@code WORK/model.shards}, where {@code bin/mosaicbert pretrain --output
 * WORK/model} writes them) are made from the embedded default corpus when they are not there, as {@code mosaicbert
 * pretrain} does with no {@code --data}. The step counts default to the README's.
 */
public final class QuickStart {
  private QuickStart() {}

  public static void main(String[] args) throws Exception {
    if (args.length == 0 || args[0].startsWith("--")) {
      throw new IllegalArgumentException("usage: QuickStart GLUE_DIR [--shards DIR] [--work DIR] "
          + "[--pretrain-steps N] [--finetune-steps N]");
    }
    Path glue = Path.of(args[0]);
    String shards = null;
    String work = "work";
    int pretrainSteps = 300;
    int finetuneSteps = 600;
    for (int i = 1; i < args.length; i += 2) {
      if (i + 1 == args.length) {
        throw new IllegalArgumentException(args[i] + " needs a value");
      }
      switch (args[i]) {
        case "--shards" -> shards = args[i + 1];
        case "--work" -> work = args[i + 1];
        case "--pretrain-steps" -> pretrainSteps = Integer.parseInt(args[i + 1]);
        case "--finetune-steps" -> finetuneSteps = Integer.parseInt(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i] + "; the options are --shards, "
            + "--work, --pretrain-steps and --finetune-steps");
      }
    }
    if (shards == null) {
      shards = work + "/model.shards";
    }
    if (!Files.isRegularFile(glue.resolve("SST-2/train.tsv")) || !Files.isRegularFile(glue.resolve("SST-2/dev.tsv"))) {
      // Said now, not after the pretraining.
      throw new IllegalArgumentException("GLUE_DIR " + glue + " has no SST-2/train.tsv and SST-2/dev.tsv");
    }

    // spark-submit sets spark.master; run by itself, the program uses 2 local task slots, one per training worker.
    String master = System.getProperty("spark.master", "local[2]");
    SparkSession.Builder builder = SparkSession.builder().appName("mosaicbert-quickstart").master(master)
        // A barrier task whose peer is lost waits this long, not Spark's default of a year.
        .config("spark.barrier.sync.timeout", "600");
    if (master.startsWith("local")) {
      // The training workers reach each other at the driver's address: the loopback one, whatever the host name says.
      builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1");
    }
    SparkSession spark = builder.getOrCreate();
    try {
      long start = System.nanoTime();
      if (!Files.exists(Path.of(shards, "manifest.json"))) {
        System.out.println("no shards in " + shards + ": tokenizing the embedded default corpus into it");
        TokenizeJob.run(spark, new TokenizeJob.Options(null, null, shards, TokenizeJob.DEFAULT_MAX_SEQ_LEN, null,
            TokenizeJob.DEFAULT_TEXT_COLUMN, 0, false, false, false, TrainVocabJob.DEFAULT_VOCAB_SIZE));
      }

      // Pretraining (MLM) on the shards, read through their manifest.
      Dataset<Row> shardRows = spark.read().parquet(shards + "/shard-*.parquet");
      MosaicBertModel encoder = new MosaicBertEstimator()
          .setVocab(shards + "/vocab.txt").setModelConfig("tiny")
          .setNumWorkers(2).setGlobalBatchSize(32).setMicroBatchSize(16).setMaxSteps(pretrainSteps).setLr(2e-3)
          .setCheckpointDir(work + "/run1")                                    // resume + metrics.jsonl + loss.png
          .fit(shardRows);
      encoder.write().overwrite().save(work + "/encoder");
      System.out.printf("pretrained: %s (%d steps)%n", work + "/encoder", pretrainSteps);

      // Fine-tuning inside a Pipeline: the text column is tokenized in the stage with the model's own vocabulary.
      GlueTask sst2 = GlueTask.named("SST-2");
      Dataset<Row> train = GlueReader.read(spark, sst2, glue.resolve("SST-2/train.tsv"));
      Dataset<Row> dev = GlueReader.read(spark, sst2, glue.resolve("SST-2/dev.tsv"));
      MosaicBertEstimator classifier = new MosaicBertEstimator().setObjective("classification")
          .setInitModel(work + "/encoder").setModelConfig(work + "/encoder/config.json")
          .setVocab(work + "/encoder/vocab.txt").setTextCol("text").setMaxSeqLen(64).setGlobalBatchSize(32)
          .setMaxSteps(finetuneSteps).setLr(1e-3).setAlphaF(0);
      PipelineModel pipeline = new Pipeline().setStages(new PipelineStage[] {classifier,
          new SQLTransformer().setStatement("SELECT idx, text, label, prediction, probability FROM __THIS__")})
          .fit(train);
      Dataset<Row> scored = pipeline.transform(dev).cache(); // scored once, read by the evaluator and below
      double accuracy = new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(scored);
      System.out.printf("SST-2 dev accuracy: %.3f (%d rows, %d fine-tuning steps)%n", accuracy, dev.count(),
          finetuneSteps);

      // Saved and loaded back, the pipeline predicts the same classes.
      String saved = work + "/sst2-pipeline";
      pipeline.write().overwrite().save(saved);
      List<Row> before = scored.select("idx", "prediction").orderBy("idx").collectAsList();
      List<Row> after = PipelineModel.load(saved).transform(dev).select("idx", "prediction").orderBy("idx")
          .collectAsList();
      if (!before.equals(after)) {
        throw new IllegalStateException("the pipeline loaded from " + saved + " predicts otherwise than the one saved");
      }
      System.out.printf("saved and reloaded: %s, the same %d predictions; %.1f s in all%n", saved, after.size(),
          (System.nanoTime() - start) / 1e9);
    } finally {
      spark.stop();
    }
  }
}
