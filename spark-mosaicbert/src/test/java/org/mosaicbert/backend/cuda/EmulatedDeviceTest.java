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
      device.write(x, new float[] {1, 2, 3, 4}, 0, 4);
      // scale_f32(float* x, long long n, float s): an Integer n would be 4 bytes of 8 on a GPU.
      String wrongType = assertThrows(IllegalStateException.class,
          () -> device.launch("scale_f32", 1, 1, 1, 256, 0, new Device.Ptr(x), 4, 2f)).getMessage();
      assertTrue(wrongType.contains("argument 1: declared a long long, given an int"), wrongType);
      assertThrows(IllegalArgumentException.class,
          () -> device.launch("scale_f32", 1, 1, 1, 256, 0, new Device.Ptr(x), 4L, 2.0));
      device.launch("scale_f32", 1, 1, 1, 256, 0, new Device.Ptr(x), 4L, 2f);
      float[] scaled = new float[4];
      device.read(x, scaled, 0, 4);
      assertArrayEquals(new float[] {2, 4, 6, 8}, scaled);
      String outside = assertThrows(IllegalStateException.class, () -> device.read(x + (1 << 16), scaled, 0, 4))
          .getMessage();
      assertTrue(outside.contains("outside the arena"), outside);
    }
  }
}
