package org.mosaicbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.backend.ScoringWeight;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.bench.PrecisionBenchmark;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;

/**
 * Scoring at bf16 and int8: each linear layer computes what its arithmetic defines (exactly, on values that the
 * quantization represents exactly), a whole model stays close to float32, and float32 is unchanged.
 */
class ScoringPrecisionTest {
  private static final ModelConfig CONFIG = new ModelConfig(300, 64, 3, 4, 96, 2, 1e-12, 0.1, 0.0, -1, 0.05, 3, null,
      0, 64, 64, null);

  /** out = inp · weightᵀ + bias on the backend at {@code precision}, rows x in times outDim x in. */
  private static float[] linear(Precision precision, float[] inp, float[] weight, float[] bias, int rows, int in,
      int outDim) {
    try (Backend backend = new CpuBackend(2)) {
      Buffer w = backend.allocate(BufferKind.PARAMETERS, weight.length, "weight");
      Buffer b = backend.allocate(BufferKind.PARAMETERS, outDim, "bias");
      Buffer x = backend.allocate(BufferKind.ACTIVATIONS, inp.length, "input");
      Buffer y = backend.allocate(BufferKind.ACTIVATIONS, (long) rows * outDim, "output");
      backend.upload(w.at(0), weight, 0, weight.length);
      backend.upload(b.at(0), bias, 0, outDim);
      backend.upload(x.at(0), inp, 0, inp.length);
      if (precision == Precision.FP32) {
        backend.linear(y.at(0), x.at(0), w.at(0), b.at(0), rows, in, outDim);
      } else {
        ScoringWeight prepared = backend.scoringWeight(w.at(0), in, outDim, precision);
        assertEquals(precision, prepared.precision());
        backend.linear(y.at(0), x.at(0), prepared, b.at(0), rows);
      }
      float[] out = new float[rows * outDim];
      backend.download(out, 0, y.at(0), out.length);
      return out;
    }
  }

  @Test
  void int8IsExactOnValuesItsQuantizationRepresents() {
    int rows = 37;
    int in = 200; // past oneDNN's smallest blocks, and not a multiple of them
    int outDim = 45;
    SplittableRandom rnd = new SplittableRandom(11);
    // Each weight row: integers in [-127, 127] times the row's scale, with ±127 present, so max |w| / 127 is the
    // scale. Each input row: (q - zero) · scale with q in [0, 127], 0 and 127 present and zero the row's zero point.
    float[] weight = new float[outDim * in];
    for (int n = 0; n < outDim; n++) {
      float scale = 0.5f / (1 + n % 7);
      for (int k = 0; k < in; k++) {
        weight[n * in + k] = (k == n % in ? (n % 2 == 0 ? 127 : -127) : rnd.nextInt(255) - 127) * scale;
      }
    }
    float[] inp = new float[rows * in];
    for (int r = 0; r < rows; r++) {
      float scale = 0.25f * (1 + r % 3);
      int zero = r % 5 == 0 ? 0 : 20 + r; // 0: a row with no negative values
      for (int k = 0; k < in; k++) {
        int q = k == 0 ? 0 : k == 1 ? 127 : rnd.nextInt(128);
        inp[r * in + k] = (q - zero) * scale;
      }
    }
    float[] bias = new float[outDim];
    for (int n = 0; n < outDim; n++) {
      bias[n] = n - 20.5f;
    }
    float[] got = linear(Precision.INT8, inp, weight, bias, rows, in, outDim);
    for (int r = 0; r < rows; r++) {
      for (int n = 0; n < outDim; n++) {
        double want = bias[n];
        double magnitude = Math.abs(bias[n]);
        for (int k = 0; k < in; k++) {
          want += (double) inp[r * in + k] * weight[n * in + k];
          magnitude += Math.abs((double) inp[r * in + k] * weight[n * in + k]);
        }
        // Exact in int32; float32 rounding of the scales and of the zero point's term alone remains.
        assertEquals(want, got[r * outDim + n], 1e-6 * magnitude, "row " + r + ", output " + n);
      }
    }
  }

  @Test
  void bf16RoundsBothOperandsToTheNearestEvenAndSumsInFloat32() {
    float half = 1f + 0x1p-8f; // halfway between bf16's 1 and 1 + 2^-7: to even, 1
    float above = 1f + 0x1p-8f + 0x1p-10f; // past halfway: 1 + 2^-7
    float[] got = linear(Precision.BF16, new float[] {half, above, 1f}, new float[] {1f, 1f, above}, new float[1], 1,
        3, 1);
    assertEquals(1f + 1f + 0x1p-7f + 1f + 0x1p-7f, got[0], 0f);
  }

  private static MosaicBert model(Precision precision, long seed) {
    MosaicBert m = new MosaicBert(CONFIG, ParameterLayout.Heads.CLASSIFIER, new CpuBackend(2),
        new MosaicBert.Capacity(400, 8, 300, 400), MosaicBert.Mode.INFERENCE);
    m.setAllParameters(ModelWeights.initial(m.layout(), m.config(), seed));
    m.setPrecision(precision);
    return m;
  }

  @Test
  void aModelAtBf16OrInt8StaysCloseToFloat32AndFloat32IsUnchanged() {
    UnpaddedBatch batch = RandomBatches.of(new int[] {17, 1, 260, 40, 64}, CONFIG, new SplittableRandom(3), 0.3,
        true);
    float[][] states = new float[Precision.values().length][];
    try (MosaicBert plain = new MosaicBert(CONFIG, ParameterLayout.Heads.CLASSIFIER, new CpuBackend(2),
        new MosaicBert.Capacity(400, 8, 300, 400), MosaicBert.Mode.INFERENCE)) {
      plain.setAllParameters(ModelWeights.initial(plain.layout(), plain.config(), 5));
      plain.forward(batch, MosaicBert.Objective.ENCODE, null);
      states[0] = plain.lastHiddenState();
    }
    for (Precision p : Precision.values()) {
      try (MosaicBert m = model(p, 5)) {
        m.forward(batch, MosaicBert.Objective.ENCODE, null);
        float[] s = m.lastHiddenState();
        if (p == Precision.FP32) {
          assertArrayEquals(states[0], s, "fp32 set explicitly computes what a model never set does, bit for bit");
          continue;
        }
        double[] cos = PrecisionBenchmark.cosines(s, states[0], CONFIG.hiddenSize());
        double min = Arrays.stream(cos).min().orElseThrow();
        double mean = Arrays.stream(cos).average().orElseThrow();
        assertTrue(min > (p == Precision.BF16 ? 0.999 : 0.99) && mean > (p == Precision.BF16 ? 0.9999 : 0.995),
            p + ": cosine of each token's last hidden state to fp32's: min " + min + ", mean " + mean);
      }
    }
  }

  @Test
  void theLastLayerOnTheFirstRowsAloneGivesTheWholePassesLogitsUpToRounding() {
    UnpaddedBatch batch = RandomBatches.of(new int[] {17, 1, 260, 40, 64}, CONFIG, new SplittableRandom(8), 0.3,
        true);
    for (Precision p : Precision.values()) {
      try (MosaicBert whole = model(p, 5); MosaicBert firstRows = model(p, 5)) {
        whole.setLastLayerOnHeadRows(false);
        whole.forward(batch, MosaicBert.Objective.CLASSIFICATION, null);
        firstRows.forward(batch, MosaicBert.Objective.CLASSIFICATION, null);
        // Equal up to float32 rounding: OpenBLAS chooses its kernels by the number of rows, which changes the order
        // of some sums (measured: the last bit or two of a logit).
        assertArrayEquals(whole.classifierLogits(), firstRows.classifierLogits(), 1e-5f, p.value());
        assertArrayEquals(whole.pooledOutput(), firstRows.pooledOutput(), 1e-5f, p.value());
        assertThrows(IllegalStateException.class, firstRows::lastHiddenState);
        firstRows.forward(batch, MosaicBert.Objective.ENCODE, null); // what needs every row gets every row
        whole.forward(batch, MosaicBert.Objective.ENCODE, null);
        assertArrayEquals(whole.lastHiddenState(), firstRows.lastHiddenState(), p.value());
      }
    }
  }

  @Test
  void newParametersAreQuantizedAgain() {
    UnpaddedBatch batch = RandomBatches.of(new int[] {30, 12}, CONFIG, new SplittableRandom(4), 0.3, true);
    try (MosaicBert reloaded = model(Precision.INT8, 5); MosaicBert direct = model(Precision.INT8, 6)) {
      reloaded.forward(batch, MosaicBert.Objective.CLASSIFICATION, null);
      reloaded.setAllParameters(ModelWeights.initial(reloaded.layout(), reloaded.config(), 6));
      reloaded.forward(batch, MosaicBert.Objective.CLASSIFICATION, null);
      direct.forward(batch, MosaicBert.Objective.CLASSIFICATION, null);
      assertArrayEquals(direct.classifierLogits(), reloaded.classifierLogits());
    }
  }

  @Test
  void trainingRunsInFloat32Only() {
    try (MosaicBert training = new MosaicBert(CONFIG, ParameterLayout.Heads.CLASSIFIER, new CpuBackend(1),
        new MosaicBert.Capacity(64, 2, 64, 1))) {
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> training.setPrecision(Precision.INT8));
      assertTrue(e.getMessage().contains("training runs in fp32"), e.getMessage());
    }
  }
}
