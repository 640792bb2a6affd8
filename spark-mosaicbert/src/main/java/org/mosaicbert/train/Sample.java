package org.mosaicbert.train;

/** One training sample: its id (the key of its randomness) and its token ids, {@code [CLS] ... [SEP]}. */
public record Sample(long sampleId, int[] inputIds) implements java.io.Serializable {}
