package org.mosaicbert.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ErfTest {
  /** erf by its Taylor series in double: slow, and exact to ~1e-12 on [−5, 5]. */
  private static double erfSeries(double x) {
    double sum = 0;
    double term = x;
    for (int n = 0; n < 200; n++) {
      sum += term / (2 * n + 1);
      term *= -x * x / (n + 1);
    }
    return 2 / Math.sqrt(Math.PI) * sum;
  }

  @Test
  void erfIsWithinAFewFloatUlpsOnTheWholeRange() {
    double worst = 0;
    for (double x = -5; x <= 5; x += 1e-3) {
      worst = Math.max(worst, Math.abs(Erf.erf((float) x) - erfSeries((float) x)));
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
