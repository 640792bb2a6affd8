package org.mosaicbert.backend;

/** A block of float32 memory owned by a {@link Backend} (off-heap on the CPU, device memory on a GPU). */
public interface Buffer {
  /** Size in floats. */
  long size();

  /** For logs and error messages only: a backend never reads meaning into it. */
  String name();

  /** A view starting {@code offset} floats into this buffer. */
  default View at(long offset) {
    return new View(this, offset);
  }
}
