package org.mosaicbert.io;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.testing.SharedTestData;

class GoldenVectorsTest {
  @Test
  void vectorsAPassOnTheCpuBackend() {
    GoldenVectors.Report report = GoldenVectors.check(SharedTestData.path("reference/vectors-a"), new CpuBackend(2),
        System.err);
    assertTrue(report.pass(), "golden vectors-a: see the table above");
  }
}
