package org.mosaicbert.ml;

/**
 * What the engine gave for one scored sequence (a row, or one window of a row): its logits and its embedding, each
 * null when the model or the transform does not produce it.
 */
record SequenceScore(double[] logits, double[] embedding) {}
