package org.mosaicbert.model;

/**
 * The activations of a micro-batch do not fit in the memory left: a plain exception that says what to change, raised
 * in place of the {@link OutOfMemoryError} of an off-heap allocation, which Spark takes for a dying executor.
 */
public final class ActivationMemoryException extends RuntimeException {
  public ActivationMemoryException(String message, Throwable cause) {
    super(message, cause);
  }
}
