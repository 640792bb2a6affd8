package org.mosaicbert.bench;

import java.io.PrintStream;
import java.util.Arrays;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.backend.ScoringWeight;
import org.mosaicbert.backend.View;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.backend.cuda.GpuDevices;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.model.UnpaddedBatch;
import org.mosaicbert.train.Batches;

/**
 * Scoring at each {@link Precision}: tokens/s of a classifier's forward pass on the same batch and weights, the
 * precisions interleaved round by round (so that a machine's slow minute falls on all of them), medians; how far each
 * precision's embeddings (the mean of the last hidden states) are from float32's; and the GEMM rate of one linear
 * layer at each precision beside OpenBLAS's SGEMM, all in the same process. Given GPUs, the GPU's scoring (the CUDA
 * backend, bf16) is one more row, interleaved with the rest.
 */
public final class PrecisionBenchmark {
  private PrecisionBenchmark() {}

  private static final Precision[] ALL = Precision.values();

  /** @param gpus the GPUs whose device 0 scores beside the CPU's precisions, or null for the CPU alone */
  public static void run(ModelConfig config, int[] seqLens, int batchTokens, int rounds, int threads,
      GpuDevices gpus, PrintStream out) {
    out.printf("SGEMM 2048x2048x2048 (OpenBLAS, %d threads): %.1f GFLOP/s%n", threads,
        EngineBenchmark.sgemmGflops(2048, threads));
    linearRates(config, batchTokens, threads, out);
    ModelConfig classifier = config.withHead(2);
    for (int seqLen : seqLens) {
      int sequences = Math.max(1, batchTokens / seqLen);
      UnpaddedBatch batch = Batches.labelled(EngineBenchmark.syntheticSamples(config, seqLen, sequences, 7));
      int variants = ALL.length + (gpus != null ? 1 : 0); // the CPU's precisions, then the GPU
      MosaicBert[] models = new MosaicBert[variants];
      try {
        float[] weights = null;
        for (int p = 0; p < variants; p++) {
          boolean gpu = p == ALL.length;
          models[p] = new MosaicBert(classifier, ParameterLayout.Heads.CLASSIFIER, gpu ? gpus.open(0, 1)
              : new CpuBackend(threads), MosaicBert.Capacity.of(batch), MosaicBert.Mode.INFERENCE);
          weights = weights != null ? weights : ModelWeights.initial(models[p].layout(), classifier, 1);
          models[p].setAllParameters(weights);
          // As MosaicBertModel scores: the GPU runs its own bf16 path (the engine's fp32 one).
          models[p].setPrecision(gpu ? Precision.FP32 : ALL[p]);
        }
        double[][] seconds = new double[variants][rounds];
        for (int r = -1; r < rounds; r++) { // round -1 warms up (and quantizes)
          for (int p = 0; p < variants; p++) {
            long t0 = System.nanoTime();
            models[p].forward(batch, MosaicBert.Objective.CLASSIFICATION, null);
            models[p].classifierLogits(); // reading the logits waits for a GPU's queued work
            if (r >= 0) {
              seconds[p][r] = (System.nanoTime() - t0) / 1e9;
            }
          }
        }
        float[][] embeddings = new float[variants][];
        for (int p = 0; p < variants; p++) {
          models[p].forward(batch, MosaicBert.Objective.ENCODE, null);
          embeddings[p] = meanPooled(models[p].lastHiddenState(), batch, config.hiddenSize());
        }
        out.printf("%s, %d sequences of %d tokens, %d threads, medians of %d interleaved rounds:%n",
            config.hiddenSize() == 768 && config.numLayers() == 12 ? "base" : "model", sequences, seqLen, threads,
            rounds);
        double fp32 = batch.nnz() / median(seconds[0]);
        for (int p = 0; p < variants; p++) {
          double tokensPerSecond = batch.nnz() / median(seconds[p]);
          double[] cos = cosines(embeddings[p], embeddings[0], config.hiddenSize());
          out.printf("  %-4s %8.0f tokens/s  %.2fx fp32   embeddings' cosine to fp32: min %.5f, mean %.5f%n",
              p < ALL.length ? ALL[p].value() : "gpu", tokensPerSecond, tokensPerSecond / fp32,
              Arrays.stream(cos).min().orElse(1), Arrays.stream(cos).average().orElse(1));
        }
      } finally {
        for (MosaicBert m : models) {
          if (m != null) {
            m.close();
          }
        }
      }
    }
  }

  /** One linear layer of the model's widest shape ([batchTokens, hidden] · [hidden, 2·intermediate]) per precision. */
  private static void linearRates(ModelConfig config, int rows, int threads, PrintStream out) {
    int in = config.hiddenSize();
    int outDim = 2 * config.intermediateSize();
    try (Backend backend = new CpuBackend(threads)) {
      Buffer weight = backend.allocate(BufferKind.PARAMETERS, (long) in * outDim, "weight");
      Buffer inp = backend.allocate(BufferKind.ACTIVATIONS, (long) rows * in, "input");
      Buffer res = backend.allocate(BufferKind.ACTIVATIONS, (long) rows * outDim, "output");
      float[] values = new float[in * outDim];
      for (int i = 0; i < values.length; i++) {
        values[i] = (float) Math.sin(i * 0.37) * 0.05f;
      }
      backend.upload(weight.at(0), values, 0, values.length);
      float[] x = new float[rows * in];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) Math.cos(i * 0.11);
      }
      backend.upload(inp.at(0), x, 0, x.length);
      for (Precision p : ALL) {
        ScoringWeight prepared = p == Precision.FP32 ? null : backend.scoringWeight(weight.at(0), in, outDim, p);
        double best = Double.MAX_VALUE;
        for (int r = 0; r < 4; r++) {
          long t0 = System.nanoTime();
          if (prepared == null) {
            backend.linear(res.at(0), inp.at(0), weight.at(0), null, rows, in, outDim);
          } else {
            backend.linear(res.at(0), inp.at(0), prepared, null, rows);
          }
          double s = (System.nanoTime() - t0) / 1e9;
          best = r > 0 ? Math.min(best, s) : best;
        }
        out.printf("linear %d x %d -> %d at %s (quantization and scaling included): %.1f GFLOP/s (best of 3)%n",
            rows, in, outDim, p.value(), 2.0 * rows * in * outDim / best / 1e9);
      }
    }
  }

  static float[] meanPooled(float[] states, UnpaddedBatch batch, int hidden) {
    int[] cu = batch.cuSeqlens();
    float[] out = new float[batch.numSequences() * hidden];
    for (int s = 0; s < batch.numSequences(); s++) {
      for (int t = cu[s]; t < cu[s + 1]; t++) {
        for (int c = 0; c < hidden; c++) {
          out[s * hidden + c] += states[t * hidden + c] / (cu[s + 1] - cu[s]);
        }
      }
    }
    return out;
  }

  /** The cosine similarity of each row of {@code a} to the same row of {@code b}. */
  public static double[] cosines(float[] a, float[] b, int width) {
    double[] out = new double[a.length / width];
    for (int r = 0; r < out.length; r++) {
      double dot = 0;
      double na = 0;
      double nb = 0;
      for (int c = r * width; c < (r + 1) * width; c++) {
        dot += (double) a[c] * b[c];
        na += (double) a[c] * a[c];
        nb += (double) b[c] * b[c];
      }
      out[r] = dot / Math.sqrt(na * nb);
    }
    return out;
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
