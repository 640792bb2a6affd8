package org.mosaicbert.bench;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.Pointer;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.model.UnpaddedBatch;
import org.mosaicbert.train.Batches;
import org.mosaicbert.train.DecoupledAdamW;
import org.mosaicbert.train.MlmMasking;
import org.mosaicbert.train.SettingValues;

/**
 * Long sequences on the CPU: scoring throughput and peak off-heap memory at growing sequence lengths with the same
 * tokens per batch, and one training step at the longer ones, each beside the memory that keeping P (padded
 * attention: batch x heads x length² floats per layer) would take for the same shape. Off-heap memory is JavaCPP's
 * count of what the process holds (parameters, gradients, optimizer state, activations, attention tiles), read after
 * each pass; nothing is freed during one.
 */
public final class LongSequenceBenchmark {
  private LongSequenceBenchmark() {}

  /** One row of the table. */
  public record Row(String what, int seqLen, int sequences, double tokensPerSecond, long peakOffHeapBytes,
      long paddedAttentionBytesPerLayer) {}

  /**
   * Scores batches of {@code batchTokens / L} sequences of each length L in {@code scoringLengths} (best of 2
   * forward passes after a warm-up), then times an MLM training step (forward, backward, AdamW; the second of two,
   * the first allocating the activations) at each length of {@code trainingLengths}; prints each row as it is measured and the table at the end.
   */
  public static List<Row> run(ModelConfig config, int[] scoringLengths, int[] trainingLengths, int batchTokens,
      int threads, PrintStream out) {
    out.printf(Locale.ROOT, "model: hidden %d, layers %d, heads %d; %d tokens per batch, %d threads%n",
        config.hiddenSize(), config.numLayers(), config.numHeads(), batchTokens, threads);
    List<Row> rows = new ArrayList<>();
    for (int len : scoringLengths) {
      rows.add(print(out, scoring(config, len, Math.max(1, batchTokens / len), threads)));
    }
    for (int len : trainingLengths) {
      rows.add(print(out, trainingStep(config, len, Math.max(1, batchTokens / len), threads)));
    }
    out.println();
    out.println("| what | tokens per sequence | sequences per batch | tokens/s | peak off-heap MiB | P per layer (padded"
        + " attention) MiB |");
    out.println("|---|---|---|---|---|---|");
    for (Row r : rows) {
      out.printf(Locale.ROOT, "| %s | %,d | %d | %,.0f | %,.0f | %,.0f |%n", r.what(), r.seqLen(), r.sequences(),
          r.tokensPerSecond(), mib(r.peakOffHeapBytes()), mib(r.paddedAttentionBytesPerLayer()));
    }
    return rows;
  }

  private static Row print(PrintStream out, Row r) {
    out.printf(Locale.ROOT, "%s at %d tokens x %d sequences: %.0f tokens/s, peak off-heap %.0f MiB (P of padded "
        + "attention: %.0f MiB per layer)%n", r.what(), r.seqLen(), r.sequences(), r.tokensPerSecond(),
        mib(r.peakOffHeapBytes()), mib(r.paddedAttentionBytesPerLayer()));
    return r;
  }

  private static double mib(long bytes) {
    return bytes / 1048576.0;
  }

  /** batch x heads x length² floats: P for one layer, as attention that keeps it needs. */
  static long paddedAttentionBytes(ModelConfig config, int seqLen, int sequences) {
    return 4L * sequences * config.numHeads() * seqLen * seqLen;
  }

  private static Row scoring(ModelConfig config, int seqLen, int sequences, int threads) {
    ModelConfig classifier = config.withHead(2);
    UnpaddedBatch batch = Batches.labelled(EngineBenchmark.syntheticSamples(config, seqLen, sequences, seqLen));
    long before = Pointer.totalBytes();
    try (MosaicBert model = new MosaicBert(classifier, ParameterLayout.Heads.CLASSIFIER, new CpuBackend(threads),
        MosaicBert.Capacity.of(batch), MosaicBert.Mode.INFERENCE)) {
      model.setAllParameters(ModelWeights.initial(model.layout(), model.config(), 1));
      double best = Double.MAX_VALUE;
      long peak = 0;
      for (int pass = 0; pass < 3; pass++) {
        long t0 = System.nanoTime();
        model.forward(batch, MosaicBert.Objective.CLASSIFICATION, null);
        double seconds = (System.nanoTime() - t0) / 1e9;
        peak = Math.max(peak, Pointer.totalBytes() - before);
        if (pass > 0) {
          best = Math.min(best, seconds);
        }
      }
      return new Row("scoring", seqLen, sequences, batch.nnz() / best, peak,
          paddedAttentionBytes(config, seqLen, sequences));
    }
  }

  private static Row trainingStep(ModelConfig config, int seqLen, int sequences, int threads) {
    MlmMasking masking = MlmMasking.of(SettingValues.defaults(), new MlmMasking.Tokens(4, config.vocabSize(),
        new int[] {0, 1, 2}));
    UnpaddedBatch batch = Batches.mlm(EngineBenchmark.syntheticSamples(config, seqLen, sequences, seqLen), masking, 0);
    long before = Pointer.totalBytes();
    try (MosaicBert model = new MosaicBert(config, ParameterLayout.Heads.MLM, new CpuBackend(threads),
        MosaicBert.Capacity.of(batch))) {
      model.setAllParameters(ModelWeights.initial(model.layout(), model.config(), 1));
      DecoupledAdamW adamw = new DecoupledAdamW(model.backend(), model.layout().size(),
          DecoupledAdamW.Hyper.of(SettingValues.defaults()));
      // The first step allocates the activations and warms the JIT up; the second is timed.
      double seconds = 0;
      for (int step = 1; step <= 2; step++) {
        long t0 = System.nanoTime();
        model.zeroGradients();
        MosaicBert.Loss loss = model.forward(batch, MosaicBert.Objective.MLM, new MosaicBert.Randomness(1, step));
        model.backward(loss.count());
        adamw.step(model.parameters(), model.gradients(), 1.0);
        seconds = (System.nanoTime() - t0) / 1e9;
      }
      return new Row("training step", seqLen, sequences, batch.nnz() / seconds, Pointer.totalBytes() - before,
          paddedAttentionBytes(config, seqLen, sequences));
    }
  }
}
