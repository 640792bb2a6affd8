package org.mosaicbert.data;

import java.io.Serializable;

/**
 * One input file: its position in the sorted listing (part of every sample id), where it is, and its format.
 * A path starting with {@code classpath:} names a resource (the embedded default corpus).
 */
public record CorpusFile(int index, String path, CorpusFormat format) implements Serializable {
  /** Sample ids are {@code fileIndex << 40 | recordIndex}: a pure function of the two positions. */
  public static final int RECORD_BITS = 40;
  public static final int MAX_FILES = 1 << (63 - RECORD_BITS);

  public CorpusFile {
    if (index < 0 || index >= MAX_FILES) {
      throw new IllegalArgumentException("at most " + MAX_FILES + " input files are supported, file index " + index);
    }
  }

  public long sampleId(long recordIndex) {
    if (recordIndex < 0 || recordIndex >= (1L << RECORD_BITS)) {
      throw new IllegalArgumentException(path + " has more than 2^" + RECORD_BITS + " records");
    }
    return ((long) index << RECORD_BITS) | recordIndex;
  }
}
