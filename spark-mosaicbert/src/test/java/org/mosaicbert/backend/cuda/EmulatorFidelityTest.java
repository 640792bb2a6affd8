package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.View;
import org.mosaicbert.model.AlibiSlopes;

/**
 * The emulated device fails where a GPU would: a kernel that reads a cp.async stage before waiting for it, a
 * misaligned 16-byte vector access, a grid past the hardware's limits. Without these, a broken kernel could pass every
 * CPU test and fault or compute garbage on its first GPU.
 */
class EmulatorFidelityTest {
  @BeforeAll
  static void needsGxx() {
    assumeTrue(EmulatedDevice.compiler() != null, "no g++: the emulated device cannot be built");
  }

  @Test
  void attentionWithoutItsCpAsyncWaitReadsStaleTiles() {
    String source = Device.resource("attention.cu");
    String waitThenBarrier = "    att_cp_async_wait_all();\n    __syncthreads();  // tile j is in;";
    assertTrue(source.contains(waitThenBarrier), "the forward loop's wait moved: update this test");
    String noWait = source.replace(waitThenBarrier, "    __syncthreads();  // tile j is in;");
    // Two sequences of three key tiles and a bit: every tile after the first is read from a stage in flight.
    int[] lengths = {200, 131};
    float[] real = attentionOutput(Map.of(), lengths);
    float[] broken = attentionOutput(Map.of("attention.cu", noWait), lengths);
    double diff = CudaBackendParityTest.relFrobenius(broken, real);
    assertTrue(diff > 0.05, "without the wait the emulator must see stale tiles, but the outputs differ by only "
        + diff);
  }

  /** The attention forward pass of base's head shape (dimension 64, 2 heads) on an emulated device. */
  private static float[] attentionOutput(Map<String, String> replacedSources, int[] lengths) {
    int heads = 2;
    int d = 64;
    int h = heads * d;
    int[] cu = new int[lengths.length + 1];
    for (int b = 0; b < lengths.length; b++) {
      cu[b + 1] = cu[b] + lengths[b];
    }
    int nnz = cu[lengths.length];
    try (CudaBackend gpu = new CudaBackend(new EmulatedDevice(replacedSources), 1L << 26)) {
      View qkv = gpu.allocate(BufferKind.ACTIVATIONS, 3L * nnz * h, "qkv").at(0);
      gpu.upload(qkv, CudaBackendParityTest.random(new SplittableRandom(3), 3 * nnz * h, 1), 0, 3 * nnz * h);
      View ctx = gpu.allocate(BufferKind.ACTIVATIONS, (long) nnz * h, "ctx").at(0);
      long state = 0;
      for (int length : lengths) {
        state += gpu.attentionStateFloats(heads, length);
      }
      View lse = gpu.allocate(BufferKind.ACTIVATIONS, state, "attention state").at(0);
      gpu.attention(ctx, lse, qkv, cu, lengths.length, heads, d, AlibiSlopes.of(heads));
      float[] out = new float[nnz * h];
      gpu.download(out, 0, ctx, nnz * h);
      return out;
    }
  }

  /**
   * A 16-byte access the launch check cannot see still stops the device: gather_rows moves 16 bytes at a time only
   * when the width is a multiple of 8, so its pointers are not ALIGN16, and a misaligned output faults on a GPU.
   */
  @Test
  void aMisalignedVectorAccessStopsTheDevice() {
    try (EmulatedDevice device = new EmulatedDevice()) {
      long base = device.allocateArena(1 << 16);
      long rows = base + 8192;
      device.write(rows, new int[] {0}, 1);
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> device.launch("gather_rows", 1, 1,
          1, 256, 0, new Device.Ptr(base + 2), new Device.Ptr(base + 4096), new Device.Ptr(rows), 1, 8));
      assertTrue(e.getMessage().contains("misaligned"), e.getMessage());
    }
  }

  /** A misaligned ALIGN16 operand from CudaBackend is refused at launch, by kernel and parameter. */
  @Test
  void aMisalignedVectorOperandIsRefusedByKernelAndParameter() {
    try (CudaBackend gpu = new CudaBackend(new EmulatedDevice(), 1L << 24)) {
      View g = gpu.allocate(BufferKind.ACTIVATIONS, 64, "g").at(0);
      View out = gpu.allocate(BufferKind.ACTIVATIONS, 64, "out").at(1); // 4 bytes into its bf16 storage
      String message = assertThrows(IllegalArgumentException.class, () -> gpu.geglu(out, g, 2, 8)).getMessage();
      assertTrue(message.startsWith("kernel geglu_forward (elementwise.cu), parameter 0 (ALIGN16 bf16* out): address")
          && message.contains("not 16-byte aligned"), message);
    }
  }

  @Test
  void aGridPastTheHardwareLimitsIsRefused() {
    try (EmulatedDevice device = new EmulatedDevice()) {
      long base = device.allocateArena(1 << 16);
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> device.launch("add_bf16", 1, 70_000,
          1, 256, 0, new Device.Ptr(base), new Device.Ptr(base), new Device.Ptr(base), 0L));
      assertTrue(e.getMessage().contains("65535"), e.getMessage());
    }
  }
}
