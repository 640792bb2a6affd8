package org.mosaicbert.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;

/**
 * Central finite differences against the backward pass on sampled entries of every parameter tensor, on small random
 * configurations: non-power-of-two head counts, a regression head, sequences of length 1, dropout on.
 *
 * <p>The engine is float32, so the differences are taken in float32 with the loss summed in float64, at h = 1e-2
 * (round-off ~1e-5, truncation ~1e-5 here); each tensor's sampled gradient must agree within 3% in norm. A wrong
 * or missing term shows up as an error of the order of the gradient itself.
 */
class GradientCheckTest {
  private static final double H = 1e-2;

  private static ModelConfig config(int hidden, int heads, int labels, double dropout) {
    return new ModelConfig(40, hidden, 2, heads, 20, 2, 1e-12, dropout, 0.0, -1, 0.3, labels, null, 0, 64, 64, null);
  }

  private static void check(ModelConfig c, int[] lengths, MosaicBert.Objective objective,
      MosaicBert.Randomness randomness) {
    SplittableRandom rnd = new SplittableRandom(7);
    check(c, RandomBatches.of(lengths, c, rnd, 0.4, objective == MosaicBert.Objective.CLASSIFICATION), objective,
        randomness, rnd);
  }

  private static void check(ModelConfig c, UnpaddedBatch batch, MosaicBert.Objective objective,
      MosaicBert.Randomness randomness, SplittableRandom rnd) {
    try (MosaicBert model = new MosaicBert(c, ParameterLayout.Heads.BOTH, new CpuBackend(2),
        new MosaicBert.Capacity(batch.nnz(), batch.numSequences(), 16, batch.maskedRows().length))) {
      model.setAllParameters(ModelWeights.initial(model.layout(), model.config(), 3));
      // LayerNorm weights and biases away from 1 and 0, so that every term of their gradients matters.
      for (ParameterLayout.Tensor t : model.layout().tensors()) {
        if (t.init() != ParameterLayout.Init.NORMAL) {
          float[] v = model.parameter(t.name());
          for (int i = 0; i < v.length; i++) {
            v[i] += (float) (0.3 * rnd.nextGaussian());
          }
          model.setParameter(t.name(), v);
        }
      }
      MosaicBert.Loss loss = model.forward(batch, objective, randomness);
      double divisor = loss.count();
      model.zeroGradients();
      model.backward(divisor);
      List<String> failures = new ArrayList<>();
      for (ParameterLayout.Tensor t : model.layout().tensors()) {
        boolean used = objective == MosaicBert.Objective.MLM ? !t.name().startsWith("bert.pooler")
            && !t.name().startsWith("classifier") : !t.name().startsWith("cls.");
        if (!used) {
          continue;
        }
        float[] values = model.parameter(t.name());
        float[] grad = model.gradient(t.name());
        double err2 = 0;
        double ref2 = 0;
        for (int k = 0; k < 6; k++) {
          int i = rnd.nextInt(values.length);
          float saved = values[i];
          values[i] = (float) (saved + H);
          model.setParameter(t.name(), values);
          double plus = model.forward(batch, objective, randomness).sum() / divisor;
          values[i] = (float) (saved - H);
          model.setParameter(t.name(), values);
          double minus = model.forward(batch, objective, randomness).sum() / divisor;
          values[i] = saved;
          model.setParameter(t.name(), values);
          double fd = (plus - minus) / (2 * H);
          err2 += (fd - grad[i]) * (fd - grad[i]);
          ref2 += fd * fd;
        }
        if (Math.sqrt(err2) > 0.03 * Math.sqrt(ref2) + 2e-5) {
          failures.add(String.format("%s: |fd - grad| = %.3e, |fd| = %.3e", t.name(), Math.sqrt(err2),
              Math.sqrt(ref2)));
        }
      }
      assertTrue(failures.isEmpty(), String.join("\n", failures));
    }
  }

  @Test
  void mlmGradientsWithThreeHeadsAndALengthOneSequence() {
    check(config(24, 3, 2, 0.0), new int[] {5, 1, 9}, MosaicBert.Objective.MLM, null);
  }

  @Test
  void classificationGradientsWithSixHeads() {
    check(config(24, 6, 3, 0.0), new int[] {7, 4, 2}, MosaicBert.Objective.CLASSIFICATION, null);
  }

  /** Padded rows as a tokenizer gives them, every row shorter than the padded length: unpadding removes them all. */
  @Test
  void gradientsFromAPaddedBatchWithEveryRowPadded() {
    ModelConfig c = config(24, 4, 2, 0.0);
    long[][] ids = {{1, 7, 9, 11, 2, 0, 0, 0}, {1, 5, 2, 0, 0, 0, 0, 0}, {1, 2, 0, 0, 0, 0, 0, 0}};
    long[][] mask = new long[3][8];
    long[][] labels = new long[3][8];
    for (int b = 0; b < 3; b++) {
      for (int s = 0; s < 8; s++) {
        mask[b][s] = ids[b][s] != 0 ? 1 : 0;
        labels[b][s] = s == 1 ? 13 + b : -100;
      }
    }
    UnpaddedBatch batch = UnpaddedBatch.fromPadded(ids, mask, null, new long[] {4, 5, 6}, labels, new float[] {0, 1, 1});
    check(c, batch, MosaicBert.Objective.MLM, null, new SplittableRandom(3));
    check(c, batch, MosaicBert.Objective.CLASSIFICATION, null, new SplittableRandom(4));
  }

  @Test
  void regressionGradients() {
    check(config(16, 4, 1, 0.0), new int[] {6, 3}, MosaicBert.Objective.CLASSIFICATION, null);
  }

  @Test
  void gradientsWithDropoutOnAreThoseOfTheSameMasks() {
    check(config(20, 5, 2, 0.1), new int[] {8, 6}, MosaicBert.Objective.MLM, new MosaicBert.Randomness(11, 0));
    check(config(20, 5, 2, 0.1), new int[] {8, 6}, MosaicBert.Objective.CLASSIFICATION,
        new MosaicBert.Randomness(11, 1));
  }
}
