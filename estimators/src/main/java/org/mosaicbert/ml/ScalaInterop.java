package org.mosaicbert.ml;

import java.io.Serializable;
import java.util.Collection;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.FlatMapFunction;
import scala.Function1;
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

  /**
   * {@code task} run on every partition of {@code rdd} in one barrier stage (Spark's barrier execution mode, which its
   * Java API lacks): all tasks start together or none does.
   */
  static <T, R> JavaRDD<R> barrierMapPartitions(JavaRDD<T> rdd, FlatMapFunction<java.util.Iterator<T>, R> task) {
    @SuppressWarnings("unchecked")
    ClassTag<R> anyRef = (ClassTag<R>) classTag(Object.class);
    Function1<scala.collection.Iterator<T>, scala.collection.Iterator<R>> function =
        (Function1<scala.collection.Iterator<T>, scala.collection.Iterator<R>> & Serializable) partition -> {
          try {
            return JavaConverters.asScalaIteratorConverter(task.call(JavaConverters.asJavaIteratorConverter(partition)
                .asJava())).asScala();
          } catch (RuntimeException | Error e) {
            throw e;
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        };
    return JavaRDD.fromRDD(rdd.rdd().barrier().mapPartitions(function, false, anyRef), anyRef);
  }
}
