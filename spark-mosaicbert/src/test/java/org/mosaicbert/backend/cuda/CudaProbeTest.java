package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.cpu.CpuBackend;

class CudaProbeTest {
  @Test
  void theProbeNeverThrowsAnswersOnceAndLeavesTheCpuBackendWorking() {
    CudaProbe.Result first = CudaProbe.probe();
    System.err.println("CudaProbe: " + first.describe());
    assertSame(first, CudaProbe.probe());
    if (first.available()) {
      assertTrue(first.deviceCount() > 0 && first.ccMajor() >= 8, first.describe());
    } else {
      assertFalse(first.reason().isEmpty());
      assertTrue(first.describe().startsWith("no usable CUDA device ("), first.describe());
    }
    try (CpuBackend cpu = new CpuBackend(1)) {
      var a = cpu.allocate(BufferKind.ACTIVATIONS, 4, "a").at(0);
      var b = cpu.allocate(BufferKind.ACTIVATIONS, 4, "b").at(0);
      var out = cpu.allocate(BufferKind.ACTIVATIONS, 2, "out").at(0);
      cpu.upload(a, new float[] {1, 2, 3, 4}, 0, 4);
      cpu.upload(b, new float[] {1, 0, 0, 1}, 0, 4);
      cpu.linear(out, a, b, null, 1, 2, 2);
      float[] y = new float[2];
      cpu.download(y, 0, out, 2);
      assertTrue(y[0] == 1 && y[1] == 2, y[0] + " " + y[1]);
    }
  }
}
