package org.mosaicbert.ml;

import java.lang.reflect.Field;
import java.util.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes the thread of Spark's barrier timer a daemon, so that a JVM whose driver ran barrier tasks can end when its
 * {@code main} returns.
 *
 * <p>Spark 3.5's {@code object BarrierTaskContext} holds one {@code java.util.Timer} in a private final field, made
 * by {@code new Timer("Barrier task timer for barrier() calls.")}: a non-daemon thread, started when the object is
 * first used and never cancelled. Its only use: each {@code barrier()} or {@code allGather()} call schedules a task
 * that logs, once a minute, that the call is still waiting, and cancels it and purges the timer when the call
 * returns. An executor's JVM ends through {@code System.exit} whatever its threads; but in local mode the barrier
 * tasks run in the driver's JVM, whose thread then outlived {@code spark.stop()} and kept a user's program (or a
 * scheduled job) from ever exiting. So, once per JVM and before this project's first barrier stage, the field gets a
 * daemon {@code Timer} of the same name, which serves the same calls the same way, and the original is cancelled,
 * which ends its thread. Nothing of this project has used the original by then. A barrier call of another library
 * waiting at that moment loses only its log line (its task was on the original); one that had read the field but not
 * yet scheduled its task would fail ("Timer already cancelled"): a window of a few instructions, and only in a JVM
 * where another library starts a barrier stage at the moment this project starts its first.
 */
final class BarrierTimer {
  private static final Logger LOG = LoggerFactory.getLogger(BarrierTimer.class);

  private static final String COMPANION = "org.apache.spark.BarrierTaskContext$";
  private static final String FIELD = "org$apache$spark$BarrierTaskContext$$timer";

  private static boolean replaced;

  private BarrierTimer() {}

  /** Gives Spark's barrier timer a daemon thread, the first time it is called in this JVM. */
  static synchronized void makeDaemon() {
    if (replaced) {
      return;
    }
    replaced = true;
    try {
      Class<?> companion = Class.forName(COMPANION);
      Object instance = companion.getField("MODULE$").get(null);
      Field field = companion.getDeclaredField(FIELD);
      field.setAccessible(true);
      Timer original = (Timer) field.get(instance);
      field.set(instance, new Timer("Barrier task timer for barrier() calls.", true));
      original.cancel();
    } catch (ReflectiveOperationException | RuntimeException e) {
      // A Spark 3.5 release with another layout: training is unaffected, only the JVM may not end by itself in
      // local mode.
      LOG.warn("cannot make Spark's barrier timer thread a daemon ({}): in local mode, end the JVM with System.exit "
          + "after spark.stop()", e.toString());
    }
  }
}
