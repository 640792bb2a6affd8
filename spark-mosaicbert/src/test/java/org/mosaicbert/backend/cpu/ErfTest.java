package org.mosaicbert.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ErfTest {
  @Test
  void erfIsWithinAFewFloatUlpsOnTheWholeRange() {
    double worst = 0;
    for (double x = -5; x <= 5; x += 1e-3) {
      worst = Math.max(worst, Math.abs(Erf.erf((float) x) - OpsFixture.erf((float) x)));
    }
    assertTrue(worst < 5e-7, "max |erf error| " + worst);
  }

  @Test
  void geluGradientIsTheDerivativeOfGelu() {
    for (double x = -6; x <= 6; x += 0.01) {
      double h = 1e-3;
      double fd = (Erf.gelu((float) (x + h)) - Erf.gelu((float) (x - h))) / (2 * h);
      assertTrue(Math.abs(fd - Erf.geluGrad((float) x)) < 2e-3, "x = " + x);
    }
  }
}
