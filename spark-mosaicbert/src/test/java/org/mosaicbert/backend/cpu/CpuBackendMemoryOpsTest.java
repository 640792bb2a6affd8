package org.mosaicbert.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mosaicbert.backend.cpu.OpsFixture.U;
import static org.mosaicbert.backend.cpu.OpsFixture.assertClose;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.View;

/**
 * The CPU backend's buffers and the ops that move, add or gather floats: what each computes, against plain loops in
 * double precision. Moves are exact; a float addition is the exact sum rounded once, within U of it.
 */
class CpuBackendMemoryOpsTest {
  @Test
  void allocateGivesAZeroedBufferOfTheSizeAskedForEveryKind() {
    try (OpsFixture f = new OpsFixture(1)) {
      for (BufferKind kind : BufferKind.values()) {
        Buffer b = f.cpu.allocate(kind, 37, "x");
        assertEquals(37, b.size(), kind.name());
        assertArrayEquals(new float[37], f.download(b.at(0), 37), kind.name());
      }
    }
  }

  @Test
  void freeGivesABufferBackOnceAndRefusesItAfter() {
    try (OpsFixture f = new OpsFixture(1)) {
      Buffer b = f.cpu.allocate(BufferKind.ACTIVATIONS, 8, "scratch");
      f.cpu.free(b);
      String message = assertThrows(IllegalArgumentException.class, () -> f.cpu.free(b)).getMessage();
      assertTrue(message.contains("scratch"), message);
    }
  }

  @Test
  void aBufferOverTheSizeLimitNamesTheSettingsToLowerNotCommandLineFlags() {
    String message = assertThrows(IllegalArgumentException.class, () -> new CpuBuffer(1L << 31, "activations"))
        .getMessage();
    assertTrue(message.contains("activations") && message.contains("microBatchSize")
        && message.contains("device_train_microbatch_size") && message.contains("max_seq_len"), message);
    assertFalse(message.contains("--"), message);
  }

  @Test
  void uploadAndDownloadCopyNFloatsAtTheViewsOffset() {
    try (OpsFixture f = new OpsFixture(2)) {
      float[] src = f.gaussian(9);
      View buffer = f.zeros(12);
      f.cpu.upload(buffer.at(3), src, 2, 5);
      float[] want = new float[12];
      System.arraycopy(src, 2, want, 3, 5);
      assertArrayEquals(want, f.download(buffer, 12));
      float[] back = new float[7];
      f.cpu.download(back, 1, buffer.at(4), 4);
      assertArrayEquals(new float[] {0, src[3], src[4], src[5], src[6], 0, 0}, back);
    }
  }

  @Test
  void zeroSetsNFloatsFromTheViewToZeroAndNoOthers() {
    try (OpsFixture f = new OpsFixture(3)) {
      float[] x = f.gaussian(40);
      View v = f.upload(x);
      f.cpu.zero(v.at(5), 30);
      float[] want = x.clone();
      Arrays.fill(want, 5, 35, 0f);
      assertArrayEquals(want, f.download(v, 40));
    }
  }

  @Test
  void copyCopiesNFloatsAndNoOthers() {
    try (OpsFixture f = new OpsFixture(4)) {
      float[] src = f.gaussian(40);
      float[] dst = f.gaussian(40);
      View d = f.upload(dst);
      f.cpu.copy(d.at(1), f.upload(src).at(3), 33);
      float[] want = dst.clone();
      System.arraycopy(src, 3, want, 1, 33);
      assertArrayEquals(want, f.download(d, 40));
    }
  }

  @Test
  void addIsTheElementwiseSumAndMayWriteOverItsFirstOperand() {
    try (OpsFixture f = new OpsFixture(5)) {
      float[] a = f.gaussian(50);
      float[] b = f.gaussian(50);
      double[] want = new double[50];
      for (int i = 0; i < 50; i++) {
        want[i] = (double) a[i] + b[i];
      }
      View out = f.zeros(50);
      f.cpu.add(out, f.upload(a), f.upload(b), 50);
      assertClose(want, f.download(out, 50), U, "out = a + b");
      View inPlace = f.upload(a);
      f.cpu.add(inPlace, inPlace, f.upload(b), 50);
      assertClose(want, f.download(inPlace, 50), U, "a += b");
    }
  }

  @Test
  void gatherRowsCopiesTheListedRowsInTheirOrder() {
    try (OpsFixture f = new OpsFixture(6)) {
      int width = 6;
      float[] inp = f.gaussian(5 * width);
      int[] rows = {4, 0, 4, 2};
      float[] want = new float[rows.length * width];
      for (int i = 0; i < rows.length; i++) {
        System.arraycopy(inp, rows[i] * width, want, i * width, width);
      }
      View out = f.zeros(want.length);
      f.cpu.gatherRows(out, f.upload(inp), rows, width);
      assertArrayEquals(want, f.download(out, want.length));
    }
  }

  /** out[rows[i]] += inp[i]: a row listed twice receives both, on top of what out held. */
  @Test
  void scatterAddRowsAddsEachRowToItsTargetRow() {
    try (OpsFixture f = new OpsFixture(7)) {
      int width = 6;
      float[] out = f.gaussian(5 * width);
      int[] rows = {1, 3, 1};
      float[] inp = f.gaussian(rows.length * width);
      double[] want = OpsFixture.toDouble(out);
      for (int i = 0; i < rows.length; i++) {
        for (int c = 0; c < width; c++) {
          want[rows[i] * width + c] += inp[i * width + c];
        }
      }
      View o = f.upload(out);
      f.cpu.scatterAddRows(o, f.upload(inp), rows, width);
      assertClose(want, f.download(o, out.length), 2 * U, "out[rows[i]] += inp[i]");
    }
  }

  @Test
  void embeddingIsTheWordRowPlusTheTypeRow() {
    try (OpsFixture f = new OpsFixture(8)) {
      int hidden = 8;
      float[] word = f.gaussian(10 * hidden);
      float[] type = f.gaussian(2 * hidden);
      int[] ids = {3, 0, 9, 3, 5};
      int[] typeIds = {0, 0, 1, 1, 0};
      double[] want = new double[ids.length * hidden];
      for (int i = 0; i < ids.length; i++) {
        for (int c = 0; c < hidden; c++) {
          want[i * hidden + c] = (double) word[ids[i] * hidden + c] + type[typeIds[i] * hidden + c];
        }
      }
      View out = f.zeros(want.length);
      f.cpu.embedding(out, ids, typeIds, f.upload(word), f.upload(type), ids.length, hidden);
      assertClose(want, f.download(out, want.length), U, "word[ids[i]] + type[typeIds[i]]");
    }
  }

  /**
   * Each row's gradient is added to its word row and its type row, on top of what they held; a word id that repeats
   * receives every row's; the padding id's word row receives nothing.
   */
  @Test
  void embeddingBackwardAddsEachRowToItsWordAndTypeRowsExceptThePaddingWord() {
    try (OpsFixture f = new OpsFixture(9)) {
      int hidden = 8;
      int padId = 0;
      int[] ids = {3, 0, 9, 3, 5, 0, 3};
      int[] typeIds = {0, 0, 1, 1, 0, 1, 0};
      float[] dword = f.gaussian(10 * hidden);
      float[] dtype = f.gaussian(2 * hidden);
      float[] dout = f.gaussian(ids.length * hidden);
      double[] wantWord = OpsFixture.toDouble(dword);
      double[] wantType = OpsFixture.toDouble(dtype);
      for (int i = 0; i < ids.length; i++) {
        for (int c = 0; c < hidden; c++) {
          if (ids[i] != padId) {
            wantWord[ids[i] * hidden + c] += dout[i * hidden + c];
          }
          wantType[typeIds[i] * hidden + c] += dout[i * hidden + c];
        }
      }
      View dw = f.upload(dword);
      View dt = f.upload(dtype);
      f.cpu.embeddingBackward(dw, dt, f.upload(dout), ids, typeIds, ids.length, hidden, padId);
      float[] gotWord = f.download(dw, dword.length);
      // At most four additions reach one element (word 3 gets three rows, type 0 four), each rounded once.
      assertClose(wantWord, gotWord, 4 * U, "dword");
      assertClose(wantType, f.download(dt, dtype.length), 4 * U, "dtype");
      for (int c = 0; c < hidden; c++) {
        assertEquals(dword[padId * hidden + c], gotWord[padId * hidden + c], "the padding row as it was");
      }
    }
  }

  /**
   * Σ x² in double over several of the backend's summing blocks (of 2^16 floats). Summing n positive terms in double
   * is within n·2^-53 of exact, relative, in any order; both sums are, so they agree within twice that.
   */
  @Test
  void sumOfSquaresIsTheSumOfTheSquaresInDouble() {
    try (OpsFixture f = new OpsFixture(10)) {
      int n = 3 * 65536 + 17;
      float[] x = f.gaussian(n);
      double want = 0;
      for (float v : x) {
        want += (double) v * v;
      }
      double got = f.cpu.sumOfSquares(f.upload(x), n);
      assertEquals(want, got, 2 * n * 0x1p-53 * want);
      assertEquals(0.0, f.cpu.sumOfSquares(f.upload(x), 0), "no values: 0");
    }
  }

  @Test
  void sumOfSquaresGivesTheSameBitsOnAnyNumberOfThreads() {
    try (OpsFixture f = new OpsFixture(11); CpuBackend one = new CpuBackend(1)) {
      int n = 5 * 65536 + 3;
      float[] x = f.gaussian(n);
      View single = one.allocate(BufferKind.GRADIENTS, n, "x").at(0);
      one.upload(single, x, 0, n);
      assertEquals(one.sumOfSquares(single, n), f.cpu.sumOfSquares(f.upload(x), n));
    }
  }

  @Test
  void sumOfSquaresIsNotFiniteWhenAValueIsNanOrInfinite() {
    try (OpsFixture f = new OpsFixture(12)) {
      for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
        float[] x = f.gaussian(100_000);
        x[70_000] = bad;
        assertFalse(Double.isFinite(f.cpu.sumOfSquares(f.upload(x), x.length)), "with " + bad);
      }
    }
  }
}
