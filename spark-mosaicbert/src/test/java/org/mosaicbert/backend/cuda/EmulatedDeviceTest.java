package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

/** The emulated device holds CudaDevice's contract where a GPU would fail, and survives a refused command. */
class EmulatedDeviceTest {
  @Test
  void everyLaunchIsCheckedAgainstItsSignatureAndARefusedOneLeavesTheDeviceWorking() {
    assumeTrue(EmulatedDevice.compiler() != null, "no g++: the emulated device cannot be built");
    try (EmulatedDevice device = new EmulatedDevice()) {
      long x = device.allocateArena(1 << 16);
      long y = x + 64;
      device.write(x, new float[] {1, 2, 3, 1.01f}, 0, 4);
      Device.Ptr out = new Device.Ptr(y);
      Device.Ptr inp = new Device.Ptr(x);
      // cast_f32_to_bf16(bf16* out, const float* inp, long long n). On a GPU, a missing n would be whatever the
      // previous launch left in the third argument slot, and an Integer n 4 bytes of the 8 read.
      assertEquals("kernel cast_f32_to_bf16 (elementwise.cu) takes 3 arguments, given 2: parameter 2 (long long n) "
          + "has no argument", refusal(device, "cast_f32_to_bf16", out, inp));
      assertEquals("kernel cast_f32_to_bf16 (elementwise.cu), parameter 2 (long long n): needs a long long (Long), "
          + "given an int (Integer) 4", refusal(device, "cast_f32_to_bf16", out, inp, 4));
      // geglu_forward(ALIGN16 bf16* out, ...) stores 16 bytes at a time: an output 2 bytes off would fault on a GPU.
      long misaligned = x + 4098;
      assertEquals("kernel geglu_forward (elementwise.cu), parameter 0 (ALIGN16 bf16* out): address 0x"
          + Long.toHexString(misaligned) + " is not 16-byte aligned, and the kernel moves 16 bytes at a time through "
          + "it; a bf16 view must start at a multiple of 8 elements",
          refusal(device, "geglu_forward", new Device.Ptr(misaligned), new Device.Ptr(x + 8192), 1, 8));

      device.launch("cast_f32_to_bf16", 1, 1, 1, 256, 0, out, inp, 4L);
      device.launch("cast_bf16_to_f32", 1, 1, 1, 256, 0, inp, out, 4L);
      float[] values = new float[4];
      device.read(x, values, 0, 4);
      assertArrayEquals(new float[] {1, 2, 3, 1.0078125f}, values, "through bf16 and back");
      String outside = assertThrows(IllegalStateException.class, () -> device.read(x + (1 << 16), values, 0, 4))
          .getMessage();
      assertTrue(outside.contains("outside the arena"), outside);
    }
  }

  private static String refusal(EmulatedDevice device, String kernel, Object... args) {
    return assertThrows(IllegalArgumentException.class, () -> device.launch(kernel, 1, 1, 1, 256, 0, args))
        .getMessage();
  }
}
