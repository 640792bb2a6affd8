package org.mosaicbert.backend;

/** A position inside a {@link Buffer}: what kernels read and write. Shapes travel as separate int arguments. */
public record View(Buffer buffer, long offset) {
  public View {
    if (offset < 0 || offset > buffer.size()) {
      throw new IllegalArgumentException("offset " + offset + " is outside buffer " + buffer.name() + " of "
          + buffer.size() + " floats");
    }
  }

  public View at(long delta) {
    return new View(buffer, offset + delta);
  }
}
