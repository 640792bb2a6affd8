package org.mosaicbert.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

class AlibiSlopesTest {
  @Test
  void slopesFollowTheSpecForPowersOfTwoAndOthers() {
    assertArrayEquals(new float[] {0.25f, 0.0625f, 0.015625f, 0.00390625f}, AlibiSlopes.of(4));
    assertArrayEquals(new float[] {1 / 4f, 1 / 16f, 1 / 64f, 1 / 256f, 1 / 2f, 1 / 8f}, AlibiSlopes.of(6));
    float[] twelve = AlibiSlopes.of(12);
    float[] expected = {0.5f, 0.25f, 0.125f, 0.0625f, 0.03125f, 0.015625f, 0.0078125f, 0.00390625f,
        (float) Math.pow(2, -0.5), (float) Math.pow(2, -1.5), (float) Math.pow(2, -2.5), (float) Math.pow(2, -3.5)};
    assertArrayEquals(expected, twelve, 1e-7f);
    float[] sixteen = AlibiSlopes.of(16);
    for (int h = 0; h < 16; h++) {
      assertArrayEquals(new float[] {(float) Math.pow(2, -(h + 1) / 2.0)}, new float[] {sixteen[h]}, 1e-7f);
    }
  }
}
