package org.mosaicbert.ml;

/**
 * Spark 4's barrier timer needs nothing: {@code object BarrierTaskContext} makes it with
 * {@code ThreadUtils.newDaemonSingleThreadScheduledExecutor}, a daemon thread, so a JVM whose driver ran barrier
 * tasks in local mode ends when its {@code main} returns ({@code LocalFitExitsTest}). Spark 3.5's is not a daemon:
 * see that line's {@code BarrierTimer}.
 */
final class BarrierTimer {
  private BarrierTimer() {}

  /** Nothing to do on Spark 4. */
  static void makeDaemon() {}
}
