package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.junit.jupiter.api.Test;

/** The parts of {@link CudaDevice} that need no CUDA library: what it hands the driver and NVRTC. */
class CudaDeviceHostTest {
  @Test
  void kernelArgumentsSitInTheirSlotsAsTheDriverReadsThem() {
    try (KernelArguments arguments = new KernelArguments()) {
      PointerPointer<org.bytedeco.javacpp.Pointer> params = arguments.pack(new Device.Ptr(0x7f00_0000_1000L), -3,
          1.5f, 1L << 40);
      java.nio.ByteBuffer slot0 = params.get(0).capacity(8).asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN);
      assertEquals(0x7f00_0000_1000L, slot0.getLong(0));
      assertEquals(-3, params.get(1).capacity(4).asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(0));
      assertEquals(1.5f, params.get(2).capacity(4).asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN).getFloat(0));
      assertEquals(1L << 40, params.get(3).capacity(8).asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN)
          .getLong(0));
      // the next launch reuses the slots
      arguments.pack(7);
      assertEquals(7, params.get(0).capacity(4).asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(0));
    }
  }

  @Test
  void aDevicePointerHoldsItsAddress() {
    // ptr(address) once assigned Pointer's own field to itself: every device pointer was NULL on the GPU.
    assertEquals(0x7f00_1234_5600L, CudaBackend.ptr(0x7f00_1234_5600L).address());
  }

  @Test
  void cStringsIsAnArrayOfTheStringsNotACastOfTheFirst() {
    // One string is the case that crashed NVRTC: the header text itself was passed where its pointer belonged.
    String header = "#pragma once\n// ümlaut";
    try (PointerPointer<BytePointer> one = NvrtcCompiler.cStrings(header);
        PointerPointer<BytePointer> two = NvrtcCompiler.cStrings("--gpu-architecture=sm_90", "-std=c++17")) {
      assertEquals(header, one.get(BytePointer.class, 0).getString(java.nio.charset.StandardCharsets.UTF_8));
      assertEquals("-std=c++17", two.get(BytePointer.class, 1).getString());
      assertEquals("--gpu-architecture=sm_90", two.get(BytePointer.class, 0).getString());
    }
  }
}
