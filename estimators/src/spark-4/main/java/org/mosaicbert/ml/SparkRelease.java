package org.mosaicbert.ml;

import org.apache.spark.SparkBuildInfo;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.util.Identifiable;

/**
 * Refuses, saying why, the one Spark 4 release this line's stages cannot run on. Spark 4.0.0 gave each constructor of
 * ML's {@code Param} a {@code scala.reflect.ClassTag} more; 4.0.1 put back the constructors of 3.5 (SPARK-52259), and
 * 4.1 and 4.2 have them too. This line is compiled against 4.2, so on 4.0.0 a stage's first {@code new Param<>(this,
 * name, doc)} would fail with {@code NoSuchMethodError: Param.<init>}, which does not say what to do. Each stage calls
 * {@link #requireParamConstructors} before it makes its params.
 *
 * <p>The test is the constructor itself, not the version string, so a 4.0.0 preview or a vendor's 4.0.0 with the fix
 * back-ported is judged by what it has.
 */
final class SparkRelease {
  /** Whether this JVM's Spark has {@code Param(Identifiable, String, String)}, as 3.5 and 4.0.1 onwards do. */
  private static final boolean HAS_PARAM_CONSTRUCTORS = hasParamConstructors();

  private SparkRelease() {}

  /** Throws, naming the running Spark and the releases to use, when this Spark lacks the constructors. */
  static void requireParamConstructors() {
    if (!HAS_PARAM_CONSTRUCTORS) {
      throw new UnsupportedOperationException("MosaicBERT's Spark ML stages cannot run on Spark "
          + SparkBuildInfo.spark_version() + ": Spark 4.0.0 changed the constructors of ML's Param, and 4.0.1 "
          + "restored them (SPARK-52259); run on Spark 4.0.1 or later");
    }
  }

  private static boolean hasParamConstructors() {
    try {
      Param.class.getConstructor(Identifiable.class, String.class, String.class);
      return true;
    } catch (NoSuchMethodException e) {
      return false;
    }
  }
}
