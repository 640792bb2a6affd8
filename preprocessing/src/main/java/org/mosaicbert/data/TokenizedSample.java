package org.mosaicbert.data;

import java.io.Serializable;

/** One training sample: its id and its token ids, {@code [CLS] ... [SEP]}, truncated, never padded. */
public record TokenizedSample(long sampleId, int[] inputIds) implements Serializable {}
