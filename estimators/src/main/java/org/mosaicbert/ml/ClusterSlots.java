package org.mosaicbert.ml;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.resource.ResourceProfile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The task slots a barrier stage can hold at once, checked before any training: a barrier stage waits for all its
 * slots together, and with too few Spark retries its own check for minutes
 * ({@code spark.scheduler.barrier.maxConcurrentTasksCheck.*}), then fails. Slots are counted on the executors that
 * have actually registered, as Spark's barrier check counts them (their cores over {@code spark.task.cpus}; in local
 * mode, the N of {@code local[N]}), not from Spark's default parallelism, which is at least 2 whatever the cluster
 * holds. On a cluster, executors still starting are waited for, up to
 * {@code spark.scheduler.maxRegisteredResourcesWaitingTime} (Spark's own bound on that wait, 30 s by default).
 */
final class ClusterSlots {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterSlots.class);
  private static final long POLL_MILLIS = 500;

  private ClusterSlots() {}

  /**
   * Refuses a stage of {@code workers} tasks that this cluster cannot run at once, and settings that would hang it;
   * the slots are those of the stage's resource profile ({@code profile}; null: the application's default).
   */
  static void check(SparkContext sc, int workers, ResourceProfile profile) {
    SparkConf conf = sc.getConf();
    if (conf.getBoolean("spark.dynamicAllocation.enabled", false)) {
      throw new IllegalArgumentException("spark.dynamicAllocation.enabled=true: Spark refuses barrier stages with "
          + "dynamic allocation; turn it off for training");
    }
    long waitMillis = sc.isLocal() ? 0 : conf.getTimeAsMs("spark.scheduler.maxRegisteredResourcesWaitingTime", "30s");
    ResourceProfile stage = profile == null ? sc.resourceProfileManager().defaultResourceProfile() : profile;
    if (profile != null) {
      sc.resourceProfileManager().addResourceProfile(profile); // Spark counts a profile's slots once it knows it
    }
    int slots = awaitSlots(sc, workers, stage, waitMillis);
    if (workers > slots) {
      int executors = Math.max(0, sc.statusTracker().getExecutorInfos().length - (sc.isLocal() ? 0 : 1));
      throw new IllegalArgumentException("numWorkers " + workers + " is more than the " + slots + " task slots of "
          + "this cluster (" + (sc.isLocal() ? sc.master() : executors + " executor(s) registered after waiting "
          + waitMillis / 1000 + " s") + ", spark.task.cpus " + conf.getInt("spark.task.cpus", 1)
          + gpuSlots(conf, profile)
          + "): a barrier stage runs all its tasks at once; lower numWorkers or add executors");
    }
    if (!conf.contains("spark.barrier.sync.timeout")) {
      LOG.warn("spark.barrier.sync.timeout is not set (Spark's default is a year); set it, e.g. to 600 seconds, so "
          + "that a lost worker ends the stage instead of stalling it");
    }
  }

  /**
   * What limits the slots besides cores when tasks take GPUs: the executors' GPUs and each task's share (the stage's
   * resource profile asks for one GPU a task).
   */
  static String gpuSlots(SparkConf conf, ResourceProfile profile) {
    if (profile == null && !conf.contains(DevicePlacement.TASK_GPUS)) {
      return "";
    }
    return ", " + DevicePlacement.EXECUTOR_GPUS + " " + conf.get(DevicePlacement.EXECUTOR_GPUS, "unset") + " and "
        + (profile != null ? "one GPU a task (the training stage's resource profile)"
            : DevicePlacement.TASK_GPUS + " " + conf.get(DevicePlacement.TASK_GPUS)) + ": a task slot needs a GPU";
  }

  /** The slots once there are {@code workers} of them, or after {@code waitMillis}, whichever comes first. */
  private static int awaitSlots(SparkContext sc, int workers, ResourceProfile stage, long waitMillis) {
    long deadline = System.nanoTime() + waitMillis * 1_000_000;
    int slots = slots(sc, stage);
    if (slots < workers && waitMillis > 0) {
      LOG.info("{} of the {} task slots the workers need are registered; waiting up to {} s for executors", slots,
          workers, waitMillis / 1000);
    }
    while (slots < workers && System.nanoTime() < deadline) {
      try {
        Thread.sleep(POLL_MILLIS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      slots = slots(sc, stage);
    }
    return slots;
  }

  /**
   * The slots of the executors registered now for a stage of resource profile {@code stage}, by Spark's own count for
   * its barrier check: {@code SparkContext.maxNumConcurrentTasks} (package-private in Scala, public to Java; Spark 3.5
   * has no public way to read executors' cores).
   */
  static int slots(SparkContext sc, ResourceProfile stage) {
    return sc.maxNumConcurrentTasks(stage);
  }

  /** The slots of a stage of the application's default resource profile. */
  static int slots(SparkContext sc) {
    return slots(sc, sc.resourceProfileManager().defaultResourceProfile());
  }
}
