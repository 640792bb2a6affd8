package org.mosaicbert.bench;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sgemm;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
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
import org.mosaicbert.train.Sample;

/**
 * The engine benchmark: tokens/s and model GFLOP/s of a training step (forward, backward, AdamW) and of inference
 * (forward), and their ratio to the SGEMM throughput the same process measures on a square 2048 multiply.
 */
public final class EngineBenchmark {
  private EngineBenchmark() {}

  public record Figures(double sgemmGflops, double trainTokensPerSecond, double trainGflops,
      double inferenceTokensPerSecond, double inferenceGflops) {}

  public static Figures run(ModelConfig config, int seqLen, int batchSize, int steps, int threads, PrintStream out) {
    double sgemm = sgemmGflops(2048, threads);
    out.printf("SGEMM 2048x2048x2048 (OpenBLAS with its own %d threads): %.1f GFLOP/s%n", threads, sgemm);

    List<Sample> samples = syntheticSamples(config, seqLen, batchSize, 1);
    MlmMasking masking = MlmMasking.of(SettingValues.defaults(), new MlmMasking.Tokens(4, config.vocabSize(),
        new int[] {0, 1, 2}));
    UnpaddedBatch batch = Batches.mlm(samples, masking, 0);
    int tokens = batch.nnz();
    int masked = batch.maskedRows().length;
    double trainFlops = trainingFlops(config, batch);
    double inferenceFlops = trainFlops / 3;
    out.printf("model: hidden %d, layers %d, heads %d, intermediate %d, vocab %d; batch %d x %d = %d tokens, "
        + "%d masked%n", config.hiddenSize(), config.numLayers(), config.numHeads(), config.intermediateSize(),
        config.vocabSize(), batchSize, seqLen, tokens, masked);
    out.printf("FLOPs counted the MFU way: training = 6 x %,d encoder parameters x tokens + attention 12 x layers x "
        + "hidden x sum(S^2) + MLM head 6 x masked x (H^2 + H x V) = %.1f GFLOP; inference = a third = %.1f GFLOP%n",
        encoderParameters(config), trainFlops / 1e9, inferenceFlops / 1e9);
    out.println(skippedFlopsLine(config, batch));

    try (MosaicBert model = new MosaicBert(config, ParameterLayout.Heads.MLM, new CpuBackend(threads),
        new MosaicBert.Capacity(tokens, batchSize, seqLen, masked))) {
      model.setAllParameters(ModelWeights.initial(model.layout(), model.config(), 1));
      DecoupledAdamW adamw = new DecoupledAdamW(model.backend(), model.layout().size(),
          DecoupledAdamW.Hyper.of(SettingValues.defaults()));
      MosaicBert.Randomness randomness = new MosaicBert.Randomness(1, 0);
      double trainSeconds = Double.MAX_VALUE;
      for (int s = 0; s <= steps; s++) { // step 0 warms up
        long t0 = System.nanoTime();
        model.zeroGradients();
        MosaicBert.Loss loss = model.forward(batch, MosaicBert.Objective.MLM, randomness);
        model.backward(loss.count());
        adamw.step(model.parameters(), model.gradients(), 1.0);
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (s > 0) {
          trainSeconds = Math.min(trainSeconds, seconds);
        }
        out.printf("  training step %d: %.3f s, loss %.4f%n", s, seconds, loss.sum() / loss.count());
      }
      double inferenceSeconds = Double.MAX_VALUE;
      for (int s = 0; s <= steps; s++) {
        long t0 = System.nanoTime();
        model.forward(batch, MosaicBert.Objective.MLM, null);
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (s > 0) {
          inferenceSeconds = Math.min(inferenceSeconds, seconds);
        }
      }
      Figures f = new Figures(sgemm, tokens / trainSeconds, trainFlops / trainSeconds / 1e9,
          tokens / inferenceSeconds, inferenceFlops / inferenceSeconds / 1e9);
      out.printf("training step (best of %d): %.3f s, %.0f tokens/s, %.1f model GFLOP/s = %.0f%% of SGEMM%n", steps,
          trainSeconds, f.trainTokensPerSecond(), f.trainGflops(), 100 * f.trainGflops() / sgemm);
      out.printf("inference (best of %d):     %.3f s, %.0f tokens/s, %.1f model GFLOP/s = %.0f%% of SGEMM%n", steps,
          inferenceSeconds, f.inferenceTokensPerSecond(), f.inferenceGflops(), 100 * f.inferenceGflops() / sgemm);
      return f;
    }
  }

  /**
   * Scoring throughput: rows/s of classification forward passes over sentences of the given lengths, in batches as
   * {@code MosaicBertModel.transform} runs them inside one Spark task.
   */
  public static double scoring(ModelConfig config, int[] lengths, int batchSize, int threads, PrintStream out) {
    ModelConfig classifier = config.withHead(2);
    int longest = java.util.Arrays.stream(lengths).max().orElse(1);
    SplittableRandom rnd = new SplittableRandom(3);
    try (MosaicBert model = new MosaicBert(classifier, ParameterLayout.Heads.CLASSIFIER, new CpuBackend(threads),
        new MosaicBert.Capacity(batchSize * longest, batchSize, longest, 1))) {
      model.setAllParameters(ModelWeights.initial(model.layout(), model.config(), 1));
      List<UnpaddedBatch> batches = new ArrayList<>();
      for (int from = 0; from < lengths.length; from += batchSize) {
        List<Sample> part = new ArrayList<>();
        for (int i = from; i < Math.min(lengths.length, from + batchSize); i++) {
          int[] ids = new int[lengths[i]];
          for (int p = 0; p < ids.length; p++) {
            ids[p] = 5 + rnd.nextInt(config.vocabSize() - 5);
          }
          part.add(new Sample(i, ids, null, 0f));
        }
        batches.add(Batches.labelled(part));
      }
      double best = Double.MAX_VALUE;
      for (int round = 0; round < 3; round++) {
        long t0 = System.nanoTime();
        for (UnpaddedBatch b : batches) {
          model.forward(b, MosaicBert.Objective.CLASSIFICATION, null);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (round > 0) {
          best = Math.min(best, seconds);
        }
      }
      double rows = lengths.length / best;
      out.printf("scoring (classification forward, batches of %d, %d threads): %d rows of mean length %.1f in %.2f s "
          + "= %.1f rows/s%n", batchSize, threads, lengths.length, java.util.Arrays.stream(lengths).average()
          .orElse(0), best, rows);
      return rows;
    }
  }

  /**
   * Model FLOPs of an MLM training step on {@code batch}, counted the MFU way: 6 x encoder parameters x tokens,
   * attention 12 x layers x hidden x sum(S^2) over the sequences, and the MLM head 6 x masked x (H^2 + H x V).
   */
  public static double trainingFlops(ModelConfig config, UnpaddedBatch batch) {
    double squares = 0;
    for (int b = 0; b < batch.numSequences(); b++) {
      double length = batch.cuSeqlens()[b + 1] - batch.cuSeqlens()[b];
      squares += length * length;
    }
    double h = config.hiddenSize();
    return 6.0 * encoderParameters(config) * batch.nnz() + 12.0 * config.numLayers() * h * squares
        + 6.0 * batch.maskedRows().length * (h * h + h * config.vocabSize());
  }

  /**
   * What a step leaves out of {@link #trainingFlops}, said in one line: the last layer runs past its attention on
   * the masked rows alone (6 x that part's parameters x the other rows). The MFU counts them all, as model FLOPs.
   */
  public static String skippedFlopsLine(ModelConfig config, UnpaddedBatch batch) {
    String last = "bert.encoder.layer." + (config.numLayers() - 1) + ".";
    long params = new ParameterLayout(config, ParameterLayout.Heads.MLM).tensors().stream()
        .filter(t -> t.name().startsWith(last) && !t.name().contains(".Wqkv.")).mapToLong(ParameterLayout.Tensor::size)
        .sum();
    double skipped = 6.0 * params * (batch.nnz() - batch.maskedRows().length);
    return String.format(java.util.Locale.ROOT, "of those, the step skips %.1f GFLOP (%.1f%%): the last layer runs "
        + "past its attention on the masked rows alone; the MFU counts them, as model FLOPs", skipped / 1e9,
        100 * skipped / trainingFlops(config, batch));
  }

  /** The encoder's parameters: all but the embedding tables and the MLM head's. */
  private static long encoderParameters(ModelConfig c) {
    long h = c.hiddenSize();
    return new ParameterLayout(c, ParameterLayout.Heads.MLM).nonEmbeddingSize() - (h * h + h + 2 * h + c.vocabSize());
  }

  /** Best of three square multiplies. */
  static double sgemmGflops(int n, int threads) {
    org.bytedeco.openblas.global.openblas_nolapack.blas_set_num_threads(threads);
    FloatPointer a = new FloatPointer((long) n * n);
    FloatPointer b = new FloatPointer((long) n * n);
    FloatPointer c = new FloatPointer((long) n * n);
    try {
      for (long i = 0; i < (long) n * n; i++) {
        a.put(i, (i % 7) * 0.1f);
        b.put(i, (i % 5) * 0.1f);
      }
      double best = Double.MAX_VALUE;
      for (int r = 0; r < 4; r++) {
        long t0 = System.nanoTime();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1f, a, n, b, n, 0f, c, n);
        double s = (System.nanoTime() - t0) / 1e9;
        if (r > 0) {
          best = Math.min(best, s);
        }
      }
      return 2.0 * n * n * n / best / 1e9;
    } finally {
      org.bytedeco.openblas.global.openblas_nolapack.blas_set_num_threads(1);
      a.deallocate();
      b.deallocate();
      c.deallocate();
    }
  }

  /**
   * {@code count} sequences of {@code seqLen} random token ids (ids 1 and 2 at the ends, the first 5 ids left out),
   * labelled 0 so that a classification batch takes them too.
   */
  static List<Sample> syntheticSamples(ModelConfig config, int seqLen, int count, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<Sample> samples = new ArrayList<>();
    for (int b = 0; b < count; b++) {
      int[] ids = new int[seqLen];
      ids[0] = 1;
      ids[seqLen - 1] = 2;
      for (int p = 1; p < seqLen - 1; p++) {
        ids[p] = 5 + rnd.nextInt(config.vocabSize() - 5);
      }
      samples.add(new Sample(b, ids, null, 0f));
    }
    return samples;
  }
}
