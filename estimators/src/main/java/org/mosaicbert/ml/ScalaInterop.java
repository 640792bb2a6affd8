package org.mosaicbert.ml;

import java.util.Collection;
import scala.Option;
import scala.collection.JavaConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * Spark's Scala API from Java, in one place: the class tags, options and Scala collections that its Scala methods
 * take, so the stages read as Java.
 */
final class ScalaInterop {
  private ScalaInterop() {}

  /** The class tag a Scala method wants for values of {@code type} (a broadcast, an RDD). */
  static <T> ClassTag<T> classTag(Class<T> type) {
    return ClassTag$.MODULE$.apply(type);
  }

  static <T> Option<T> none() {
    return Option.empty();
  }

  static <T> Option<T> some(T value) {
    return Option.apply(value);
  }

  /** An immutable Scala list with the elements of {@code values}, in their iteration order. */
  static <T> scala.collection.immutable.List<T> list(Collection<T> values) {
    return JavaConverters.collectionAsScalaIterableConverter(values).asScala().toList();
  }
}
