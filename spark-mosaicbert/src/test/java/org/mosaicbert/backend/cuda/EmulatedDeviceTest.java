package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

/** The emulated device holds CudaDevice's contract where a GPU would fail, and survives a refused command. */
class EmulatedDeviceTest {
  @Test
  void argumentTypesAreCheckedAndARefusedCommandLeavesTheDeviceWorking() {
    assumeTrue(EmulatedDevice.compiler() != null, "no g++: the emulated device cannot be built");
    try (EmulatedDevice device = new EmulatedDevice()) {
      long x = device.allocateArena(1 << 16);
      long y = x + 64;
      device.write(x, new float[] {1, 2, 3, 1.01f}, 0, 4);
      // cast_f32_to_bf16(bf16* out, const float* inp, long long n): an Integer n would be 4 bytes of 8 on a GPU.
      String wrongType = assertThrows(IllegalStateException.class, () -> device.launch("cast_f32_to_bf16", 1, 1, 1,
          256, 0, new Device.Ptr(y), new Device.Ptr(x), 4)).getMessage();
      assertTrue(wrongType.contains("argument 2: declared a long long, given an int"), wrongType);
      assertThrows(IllegalArgumentException.class, () -> device.launch("cast_f32_to_bf16", 1, 1, 1, 256, 0,
          new Device.Ptr(y), new Device.Ptr(x), 4.0));
      device.launch("cast_f32_to_bf16", 1, 1, 1, 256, 0, new Device.Ptr(y), new Device.Ptr(x), 4L);
      device.launch("cast_bf16_to_f32", 1, 1, 1, 256, 0, new Device.Ptr(x), new Device.Ptr(y), 4L);
      float[] values = new float[4];
      device.read(x, values, 0, 4);
      assertArrayEquals(new float[] {1, 2, 3, 1.0078125f}, values, "through bf16 and back");
      String outside = assertThrows(IllegalStateException.class, () -> device.read(x + (1 << 16), values, 0, 4))
          .getMessage();
      assertTrue(outside.contains("outside the arena"), outside);
    }
  }
}
