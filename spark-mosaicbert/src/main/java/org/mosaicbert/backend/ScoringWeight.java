package org.mosaicbert.backend;

/**
 * A linear layer's weight [outDim, in] made ready once, in a backend's own form, for scoring at a precision other
 * than float32: {@link Backend#scoringWeight} makes it, {@link Backend#linear(View, View, ScoringWeight, View, int)}
 * multiplies by it. It holds a copy: later changes to the parameter are not seen. The backend frees it when it closes.
 */
public interface ScoringWeight {
  Precision precision();

  int in();

  int outDim();
}
