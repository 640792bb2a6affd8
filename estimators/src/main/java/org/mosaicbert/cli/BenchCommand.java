package org.mosaicbert.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.backend.cuda.CudaProbe;
import org.mosaicbert.backend.cuda.GpuDevices;
import org.mosaicbert.bench.AllReduceBenchmark;
import org.mosaicbert.bench.EngineBenchmark;
import org.mosaicbert.bench.LongSequenceBenchmark;
import org.mosaicbert.bench.PrecisionBenchmark;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.ml.MosaicBertModel;
import org.mosaicbert.model.ParameterLayout;

/** {@code bench}: engine throughput against the machine's own SGEMM. */
final class BenchCommand implements Subcommand {
  @Override
  public String name() {
    return "bench";
  }

  @Override
  public String summary() {
    return "engine benchmarks: training and inference tokens/s and GFLOP/s, long sequences, allreduce, scoring";
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert bench [--preset base] [--seq-len 128] [--batch 32] [--steps 3] [--threads N]
               mosaicbert bench --allreduce [--preset base]
               mosaicbert bench --long-sequences [--preset base] [--batch-tokens 4096] [--threads N]
               mosaicbert bench --precisions [--preset base] [--batch-tokens 4096] [--steps 5] [--threads N]
                                [--device gpu]
               mosaicbert bench --precisions --model DIR --input FILE [--task T] [--rows N]
                                [--max-seq-len 128]

        Times a training step (forward, backward, AdamW) and inference (forward) of a model preset on a synthetic
        MLM batch (30% masked) and prints tokens/s, model GFLOP/s (counted the MFU way, the formula is printed) and
        the ratio to the SGEMM throughput measured in the same process (a square 2048 multiply).

          --preset NAME   tiny, mini, small, base or large (vocabulary 30,528) (default base)
          --seq-len N     tokens per sequence (default 128)
          --batch N       sequences per step (default 32)
          --steps N       timed steps after one warm-up step; the best is reported (default 3)
          --threads N     CPU threads (default: all cores)
          --allreduce     instead: the TCP ring allreduce on loopback with 2 and 4 ranks, 1 MB up to the size of
                          the preset's gradients; algorithm and bus bandwidth as nccl-tests define them
          --scoring FILE  instead: rows/s of classification scoring of the sentences of a GLUE TSV (first column
                          that is text; e.g. SST-2 dev.tsv), tokenized with bert-base-uncased's vocabulary
          --vocab FILE    the vocab.txt for --scoring
          --long-sequences  instead: scoring tokens/s and peak off-heap memory at 128, 512, 1,024, 2,048 and
                          4,096 tokens per sequence, and a training step (the second of two) at 512 and
                          2,048, each with --batch-tokens tokens per batch, beside the memory that
                          keeping P (padded attention: batch x heads x length^2 floats per layer) would take
          --precisions    instead: scoring tokens/s at each precision (fp32, bf16, int8) of a classifier with
                          the same random weights, at 128 and 512 tokens per sequence, --batch-tokens tokens
                          per batch, medians of --steps rounds with the precisions interleaved; each one's
                          embeddings' cosine to fp32's; and one linear layer's GFLOP/s at each precision beside
                          SGEMM's, all in the same process
          --device D      with --precisions: gpu adds the GPU's scoring (the CUDA backend, bf16; device 0)
                          as one more row (default cpu)
          --batch-tokens N  tokens per batch for --long-sequences and --precisions (default 4096)
          --model DIR     with --precisions, instead: score --input with this model at each precision and
                          compare with fp32: an MLM model's embeddings (cosine), a fine-tuned model's
                          predictions (share changed, largest change) and, with --task (a GLUE TSV with
                          labels), the task's dev metrics; in local Spark
          --input FILE    the rows for --model: .txt, .csv, .json/.jsonl (a text column), .parquet, or a GLUE
                          .tsv with --task
          --task NAME     read --input as this GLUE task's TSV
          --rows N        score the first N rows of --input (default: all)
          --max-seq-len N  tokens per text for --model (default 128)
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) {
    Args args = Args.parse(name(), argv, Set.of("preset", "seq-len", "batch", "steps", "threads", "scoring",
        "vocab", "batch-tokens", "model", "input", "task", "rows", "max-seq-len", "device"), Set.of("allreduce",
        "long-sequences", "precisions"));
    ModelConfig config = ModelConfig.preset(args.string("preset", "base"), 30522);
    int threads = args.intValue("threads", Runtime.getRuntime().availableProcessors(), 1);
    if (args.has("scoring")) {
      var tokenizer = org.mosaicbert.tokenizer.TokenizerLoader.load(args.path("vocab"), false);
      var task = org.mosaicbert.glue.GlueTask.named("SST-2");
      int[] lengths = org.mosaicbert.glue.GlueReader.examples(task, args.path("scoring")).stream()
          .mapToInt(e -> tokenizer.encode(e.text(), 256).length).toArray();
      EngineBenchmark.scoring(config, lengths, args.intValue("batch", 32, 1), threads, out);
      return 0;
    }
    if (args.has("precisions") && args.has("model")) {
      GlueTask task = args.has("task") ? GlueTask.named(args.requiredString("task")) : null;
      String input = args.requiredString("input");
      int rows = args.intValue("rows", 0, 1);
      int maxSeqLen = args.intValue("max-seq-len", 128, 3);
      SparkSession spark = SubcommandSpark.submittedOrLocal(name());
      try {
        MosaicBertModel model = MosaicBertModel.load(args.requiredString("model"));
        model.setTextCol("text").setTextPairCol(task != null && task.isPair() ? "text_pair" : "")
            .setMaxSeqLen(maxSeqLen);
        Dataset<Row> table = Tables.read(spark, input, task);
        Tables.requireTextColumn(table, "text", "the text column", input);
        PrecisionAccuracy.run(model, rows > 0 ? table.limit(rows) : table, task, out);
      } finally {
        spark.stop();
      }
      return 0;
    }
    if (args.has("precisions")) {
      GpuDevices gpus = null;
      if (args.choice("device", "cpu", List.of("cpu", "gpu")).equals("gpu")) {
        // As a Spark job's tasks find theirs: the machine's GPUs, unless spark.mosaicbert.gpuDevices names others.
        gpus = GpuDevices.named(System.getProperty(GpuDevices.SPARK_CONF, ""));
        CudaProbe.Result cuda = gpus.probe();
        if (!cuda.available()) {
          throw new UsageException("bench: --device gpu, but there is " + cuda.describe());
        }
      }
      PrecisionBenchmark.run(config, new int[] {128, 512}, args.intValue("batch-tokens", 4096, 1),
          args.intValue("steps", 5, 1), threads, gpus, out);
      return 0;
    }
    if (args.has("long-sequences")) {
      LongSequenceBenchmark.run(config, new int[] {128, 512, 1024, 2048, 4096}, new int[] {512, 2048},
          args.intValue("batch-tokens", 4096, 1), threads, out);
      return 0;
    }
    if (args.has("allreduce")) {
      long gradientBytes = 4 * new ParameterLayout(config, ParameterLayout.Heads.MLM).size();
      java.util.List<Long> sizes = new java.util.ArrayList<>();
      for (long s = 1 << 20; s < gradientBytes; s *= 8) {
        sizes.add(s);
      }
      sizes.add(gradientBytes);
      out.printf("allreduce on loopback (this machine has %d cores; 4 ranks time-slice on fewer)%n",
          Runtime.getRuntime().availableProcessors());
      AllReduceBenchmark.run(new int[] {2, 4}, sizes.stream().mapToLong(Long::longValue).toArray(), out);
      return 0;
    }
    EngineBenchmark.run(config, args.intValue("seq-len", 128, 3), args.intValue("batch", 32, 1),
        args.intValue("steps", 3, 1), threads, out);
    return 0;
  }
}
