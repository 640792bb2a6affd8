package org.mosaicbert.ml;

/**
 * Every Spark 3.5 release has the constructors of ML's {@code Param} that the stages use; only Spark 4.0.0 lacks them
 * (see the Spark 4 line's {@code SparkRelease}).
 */
final class SparkRelease {
  private SparkRelease() {}

  /** Nothing to check on Spark 3.5. */
  static void requireParamConstructors() {}
}
