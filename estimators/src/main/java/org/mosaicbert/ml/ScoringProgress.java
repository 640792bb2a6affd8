package org.mosaicbert.ml;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.JobSucceeded$;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple4;
import scala.collection.JavaConverters;

/**
 * Scoring progress in the driver's log: rows scored, rows/s and, when the job's total is known, an ETA, about every
 * {@value #DEFAULT_SECONDS} s while a Spark job that scores runs, and a last line when it ends. {@code transform} is
 * lazy, so the counts come from the job's tasks, whenever an action runs it: each scoring task adds its rows to an
 * accumulator after every chunk ({@link #counter}); a running task's count reaches the driver with each executor
 * heartbeat (spark.executor.heartbeatInterval, 10 s by default), a finished task's with its end.
 *
 * <p>One listener per SparkContext follows every job whose tasks carry such a counter; it forgets a job when the job
 * ends, and goes with the context. A job that ends before its first line logs nothing.
 */
public final class ScoringProgress extends SparkListener {
  /**
   * A local property (SparkContext.setLocalProperty) of the thread that runs an action: the rows its job scores. With
   * it the lines say how many are left and when they should be done.
   */
  public static final String TOTAL_ROWS = "mosaicbert.scoring.totalRows";
  /** The name of the accumulators scoring tasks count their rows in. */
  static final String COUNTER = "mosaicbert: rows scored";
  /** Seconds between lines; this system property, read when a context's listener is added, changes it for tests. */
  static final String SECONDS_PROPERTY = "mosaicbert.scoring.progressSeconds";
  /** Spark's heartbeat interval by default: running tasks' counts come no oftener. */
  private static final int DEFAULT_SECONDS = 10;
  private static final Logger LOG = LoggerFactory.getLogger(ScoringProgress.class);
  private static final Map<SparkContext, ScoringProgress> LISTENERS = new WeakHashMap<>();

  /** A job being run: its stages, and its rows scored so far. */
  private static final class Job {
    final long startMillis;
    final long totalRows;
    final List<Integer> stages;
    /** Rows of the tasks that succeeded. */
    long finishedRows;
    /** Rows of the running tasks, as their last heartbeat said. */
    final Map<Long, Long> runningRows = new HashMap<>();
    /** Tasks that ended: a heartbeat sent before a task's end may arrive after it. */
    final Set<Long> endedTasks = new HashSet<>();
    boolean scores;
    long lastLineMillis;
    long lastLineRows;

    Job(long startMillis, long totalRows, List<Integer> stages) {
      this.startMillis = startMillis;
      this.totalRows = totalRows;
      this.stages = stages;
      this.lastLineMillis = startMillis;
    }

    long rows() {
      return finishedRows + runningRows.values().stream().mapToLong(Long::longValue).sum();
    }
  }

  private final long lineMillis;
  private final Map<Integer, Job> jobs = new HashMap<>();
  private final Map<Integer, Job> jobOfStage = new HashMap<>();

  private ScoringProgress(long lineMillis) {
    this.lineMillis = lineMillis;
  }

  /**
   * A new counter of rows scored for the tasks of one transform, and the context's listener, added with its first
   * counter.
   */
  static LongAccumulator counter(SparkContext sc) {
    synchronized (LISTENERS) {
      LISTENERS.computeIfAbsent(sc, context -> {
        double seconds = Double.parseDouble(System.getProperty(SECONDS_PROPERTY, String.valueOf(DEFAULT_SECONDS)));
        ScoringProgress listener = new ScoringProgress(Math.round(seconds * 1000));
        context.addSparkListener(listener);
        return listener;
      });
    }
    return sc.longAccumulator(COUNTER);
  }

  /** The jobs followed now: each is dropped when it ends. */
  synchronized int jobsFollowed() {
    return jobs.size();
  }

  @Override
  public synchronized void onJobStart(SparkListenerJobStart start) {
    String total = start.properties() == null ? null : start.properties().getProperty(TOTAL_ROWS);
    long totalRows = -1;
    try {
      totalRows = total == null ? -1 : Long.parseLong(total.strip());
    } catch (NumberFormatException e) {
      LOG.warn("the local property {} is '{}', not a number of rows: scoring progress without an ETA", TOTAL_ROWS,
          total);
    }
    List<Integer> stages = JavaConverters.seqAsJavaList(start.stageIds()).stream().map(id -> (Integer) id).toList();
    Job job = new Job(start.time(), totalRows, stages);
    jobs.put(start.jobId(), job);
    stages.forEach(stage -> jobOfStage.put(stage, job));
  }

  @Override
  public synchronized void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate update) {
    for (Tuple4<Object, Object, Object, ? extends scala.collection.Seq<AccumulableInfo>> task
        : JavaConverters.seqAsJavaList(update.accumUpdates())) {
      long taskId = (Long) task._1();
      Job job = jobOfStage.get((Integer) task._2());
      long rows = rowsIn(task._4());
      if (job != null && rows >= 0 && !job.endedTasks.contains(taskId)) {
        job.scores = true;
        job.runningRows.put(taskId, rows);
      }
    }
    logDue();
  }

  @Override
  public synchronized void onTaskEnd(SparkListenerTaskEnd end) {
    Job job = jobOfStage.get(end.stageId());
    if (job == null) {
      return;
    }
    long taskId = end.taskInfo().taskId();
    long rows = rowsIn(end.taskInfo().accumulables());
    if (job.runningRows.remove(taskId) != null || rows >= 0) {
      job.endedTasks.add(taskId);
    }
    if (rows >= 0 && end.taskInfo().successful()) {
      job.scores = true;
      job.finishedRows += rows;
    }
    logDue();
  }

  @Override
  public synchronized void onJobEnd(SparkListenerJobEnd end) {
    Job job = jobs.remove(end.jobId());
    if (job == null) {
      return;
    }
    job.stages.forEach(stage -> jobOfStage.remove(stage, job));
    if (job.lastLineRows > 0 && end.jobResult() == JobSucceeded$.MODULE$) {
      double seconds = (end.time() - job.startMillis) / 1000.0;
      LOG.info(String.format(Locale.ROOT, "scoring (Spark job %d): %s rows in %.1f s, %.0f rows/s", end.jobId(),
          job.totalRows >= 0 ? job.finishedRows + "/" + job.totalRows : job.finishedRows, seconds,
          job.finishedRows / Math.max(seconds, 1e-3)));
    }
  }

  /**
   * A line for each scoring job whose rows grew since its last line, a line's time after it. Three quarters of it
   * will do: heartbeats bring the counts at about that pace, and one that comes a little early must not wait for the
   * next. A job at its total has only its last line to come.
   */
  private void logDue() {
    long now = System.currentTimeMillis();
    jobs.forEach((id, job) -> {
      long rows = job.rows();
      if (job.scores && now - job.lastLineMillis >= lineMillis * 3 / 4 && rows > job.lastLineRows
          && (job.totalRows < 0 || rows < job.totalRows)) {
        log(id, job, now);
      }
    });
  }

  /** A line with the rows done, and the pace since the line before (as training's lines give each step's). */
  private void log(int jobId, Job job, long now) {
    long rows = job.rows();
    double perSecond = (rows - job.lastLineRows) / Math.max((now - job.lastLineMillis) / 1000.0, 1e-3);
    LOG.info(String.format(Locale.ROOT, "scoring (Spark job %d): %s rows  %.0f rows/s%s", jobId,
        job.totalRows >= 0 ? rows + "/" + job.totalRows : rows, perSecond, job.totalRows >= 0
            ? String.format(Locale.ROOT, "  ETA %.0f s", Math.max(0, job.totalRows - rows) / perSecond) : ""));
    job.lastLineMillis = now;
    job.lastLineRows = rows;
  }

  /**
   * A task's rows scored: the largest of its counters (a stage that chains two models scores each row twice); -1
   * when it has none.
   */
  private static long rowsIn(scala.collection.Seq<AccumulableInfo> accumulables) {
    long rows = -1;
    for (AccumulableInfo info : JavaConverters.seqAsJavaList(accumulables)) {
      if (info.name().isDefined() && COUNTER.equals(info.name().get()) && info.update().isDefined()) {
        rows = Math.max(rows, ((Number) info.update().get()).longValue());
      }
    }
    return rows;
  }
}
