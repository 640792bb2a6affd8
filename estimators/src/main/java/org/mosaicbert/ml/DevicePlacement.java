package org.mosaicbert.ml;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.resource.ResourceProfile;
import org.apache.spark.resource.ResourceProfileBuilder;
import org.apache.spark.resource.TaskResourceRequests;
import org.mosaicbert.backend.cuda.CudaProbe;
import org.mosaicbert.backend.cuda.GpuDevices;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a fit's workers train: the estimator's {@code device} param ("cpu", "gpu" or "auto", a string as MLlib saves
 * it), parsed once into this, then {@linkplain #resolve resolved} on the driver to CPU or GPU; on a GPU, each worker's
 * device is {@link #gpuOrdinal}.
 */
public enum DevicePlacement {
  CPU,
  GPU,
  /** The CPU for now, said in the log: see {@link #resolve}. */
  AUTO;

  private static final Logger LOG = LoggerFactory.getLogger(DevicePlacement.class);
  static final String TASK_GPUS = "spark.task.resource.gpu.amount";
  static final String EXECUTOR_GPUS = "spark.executor.resource.gpu.amount";

  /** Every param value, for the param's validator and for messages. */
  public static String[] paramValues() {
    return EnumParams.paramValues(DevicePlacement.class);
  }

  /** The placement of a param value. */
  public static DevicePlacement of(String paramValue) {
    return EnumParams.parse(DevicePlacement.class, "device", paramValue);
  }

  /**
   * The backend a fit of {@code workers} ranks trains on, CPU or GPU, decided on the driver: CPU always for CPU; for
   * GPU, on a cluster when each training task gets a GPU of its own (see {@link #gpuStageProfile}: through the stage's
   * resource profile, or {@code spark.task.resource.gpu.amount} = 1), in local mode when this machine has a usable
   * device per worker ({@link GpuDevices}), else an {@link IllegalArgumentException} saying what is missing; AUTO the
   * CPU, said in the log. GPU training through Spark's barrier tasks on a real GPU and NCCL across
   * two or more GPUs have not run yet: until they have, GPU trains with a warning and AUTO does not choose it.
   */
  DevicePlacement resolve(SparkConf conf, boolean localMaster, int workers) {
    if (this != GPU) {
      return cpu("training");
    }
    if (localMaster) {
      CudaProbe.Result cuda = probe(conf);
      if (workers > cuda.deviceCount()) {
        throw new IllegalArgumentException("numWorkers " + workers + " is more than the " + cuda.deviceCount()
            + " CUDA device(s) of this machine (in local mode each worker takes the device of its rank); lower "
            + "numWorkers to at most " + cuda.deviceCount());
      }
    } else if (conf.contains(TASK_GPUS)) {
      double amount = conf.getDouble(TASK_GPUS, 0);
      if (amount != 1) {
        throw new IllegalArgumentException("device=gpu on a cluster needs " + TASK_GPUS + " = 1 (each training task "
            + "a whole GPU of its own: NCCL refuses two ranks on one GPU), got " + amount + "; or leave it unset "
            + "where the stage can ask for its GPUs itself (standalone, YARN, Kubernetes); see "
            + "conf/spark-defaults.gpu.conf, or use device=cpu");
      }
    } else if (!stageLevelScheduling(conf)) {
      throw new IllegalArgumentException("device=gpu on a cluster needs " + TASK_GPUS + " = 1 (each training task a "
          + "whole GPU of its own): the cluster manager of " + conf.get("spark.master", "this application") + " has "
          + "no stage-level scheduling for the stage to ask for them itself; see conf/spark-defaults.gpu.conf, or use "
          + "device=cpu");
    } else if (!(conf.getDouble(EXECUTOR_GPUS, 0) >= 1)) {
      throw new IllegalArgumentException("device=gpu on a cluster needs GPUs on the executors: "
          + EXECUTOR_GPUS + " (and its discovery script, spark.executor.resource.gpu.discoveryScript); the training "
          + "stage then asks each task for one; see conf/spark-defaults.gpu.conf, or use device=cpu");
    }
    LOG.warn("device=gpu: GPU training through Spark and NCCL across GPUs have not run on a GPU yet; run "
        + "scripts/gpu-check.sh on one of your GPUs first, and compare the loss curve with a device=cpu run");
    return GPU;
  }

  /**
   * Whether the application's cluster manager takes a stage's own task resource profile with dynamic allocation off
   * (Spark 3.4 and later on standalone, 3.5 and later on YARN and Kubernetes; not local mode).
   */
  private static boolean stageLevelScheduling(SparkConf conf) {
    String master = conf.get("spark.master", "");
    return master.startsWith("spark://") || master.startsWith("local-cluster") || master.equals("yarn")
        || master.startsWith("k8s://");
  }

  /**
   * The resource profile a GPU fit's barrier stage asks with: each task one GPU and the worker's CPU threads, so that
   * no two training tasks share an executor's GPU while the application's other stages keep their slots. Null where
   * the configuration route stays: local mode, {@code spark.task.resource.gpu.amount} set (every task of the
   * application takes that share), a cluster manager without stage-level scheduling.
   */
  static ResourceProfile gpuStageProfile(SparkConf conf, int threads) {
    if (conf.contains(TASK_GPUS) || !stageLevelScheduling(conf)) {
      return null;
    }
    return new ResourceProfileBuilder().require(new TaskResourceRequests().cpus(threads).resource("gpu", 1))
        .build();
  }

  /**
   * Where a model's scoring tasks run, decided on the driver as for a fit, except that scoring tasks may share a GPU:
   * on a cluster any positive {@code spark.task.resource.gpu.amount} will do (0.25: four tasks a GPU).
   */
  DevicePlacement resolveForScoring(SparkConf conf, boolean localMaster) {
    if (this != GPU) {
      return cpu("scoring");
    }
    if (localMaster) {
      probe(conf);
    } else if (!(conf.getDouble(TASK_GPUS, 0) > 0)) {
      throw new IllegalArgumentException("device=gpu on a cluster needs " + TASK_GPUS + " (a task's "
          + "share of a GPU: 1, or 0.25 for four scoring tasks a GPU) with the executors' gpu resources; see "
          + "conf/spark-defaults.gpu.conf, or use device=cpu");
    }
    LOG.warn("device=gpu: scoring on GPUs through Spark has run on emulated GPUs only, not yet on a GPU; compare "
        + "a sample of its outputs with device=cpu");
    return GPU;
  }

  private DevicePlacement cpu(String doing) {
    if (this == AUTO) {
      // No probe: auto cannot pick the GPU yet, and a CPU run need not load the CUDA libraries.
      LOG.info("device=auto: {} on the CPU (GPU training through Spark has not run on a GPU yet; device=gpu uses "
          + "the GPU anyway)", doing);
    }
    return CPU;
  }

  /** The devices of this machine (local mode), or an error saying why there are none. */
  private static CudaProbe.Result probe(SparkConf conf) {
    CudaProbe.Result cuda = GpuDevices.named(conf.get(GpuDevices.SPARK_CONF, "")).probe();
    if (!cuda.available()) {
      throw new IllegalArgumentException("device=gpu, but there is " + cuda.describe() + "; use device=cpu, "
          + "or device=auto to fall back to the CPU");
    }
    LOG.info("device=gpu: found {}", cuda.describe());
    return cuda;
  }

  /**
   * The share of its GPU a scoring task's memory may take: {@code spark.task.resource.gpu.amount} on a cluster, in
   * local mode one over the tasks that run at once ({@code slots}), all on device 0.
   */
  static double scoringShare(SparkConf conf, boolean localMaster, int slots) {
    return localMaster ? 1.0 / Math.max(1, slots)
        : Math.min(1, conf.getDouble(TASK_GPUS, 1));
  }

  /**
   * The CUDA ordinal of a GPU worker: the first address of the task's {@code gpu} resource (Spark's resource
   * scheduling), else, with no such resource (local mode), the worker's rank when the machine has that many devices.
   * A resource address is a device as the discovery script lists them (nvidia-smi's index); where the executor's
   * {@code CUDA_VISIBLE_DEVICES} ({@code visibleDevices}, null when unset) hides some devices (YARN and Kubernetes
   * isolate GPUs that way), CUDA numbers the visible ones from 0, so the ordinal is the address's place in that list.
   */
  static int gpuOrdinal(Map<String, ResourceInformation> resources, int rank, int deviceCount,
      String visibleDevices) {
    ResourceInformation gpu = resources.get("gpu");
    if (gpu == null || gpu.addresses().length == 0) {
      if (rank >= deviceCount) {
        throw new IllegalArgumentException("worker " + rank + " has no GPU: the task has no gpu resource and this "
            + "machine has " + deviceCount + " CUDA device(s); set spark.task.resource.gpu.amount=1 with the "
            + "executors' gpu resources (conf/spark-defaults.gpu.conf), or lower numWorkers");
      }
      return rank;
    }
    String address = gpu.addresses()[0].trim();
    if (visibleDevices != null && !visibleDevices.isBlank()) {
      List<String> visible = Arrays.stream(visibleDevices.split(",")).map(String::trim).toList();
      int at = visible.indexOf(address);
      if (at < 0) {
        throw new IllegalArgumentException("worker " + rank + ": the task's gpu resource is '" + address + "', but "
            + "CUDA_VISIBLE_DEVICES=" + visibleDevices + " on this executor does not list it; the discovery script "
            + "(spark.executor.resource.gpu.discoveryScript) must name GPUs as CUDA_VISIBLE_DEVICES does, or leave "
            + "CUDA_VISIBLE_DEVICES unset");
      }
      return at;
    }
    int ordinal;
    try {
      ordinal = Integer.parseInt(address);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("worker " + rank + ": the task's gpu resource address '" + address
          + "' is not a CUDA device number; the discovery script (spark.executor.resource.gpu.discoveryScript) "
          + "must list GPUs by index, as Spark's getGpusResources.sh does");
    }
    if (ordinal < 0 || ordinal >= deviceCount) {
      throw new IllegalArgumentException("worker " + rank + ": the task's gpu resource is device " + ordinal
          + ", but this executor sees " + deviceCount + " CUDA device(s); the discovery script "
          + "(spark.executor.resource.gpu.discoveryScript) lists GPUs this machine does not have");
    }
    return ordinal;
  }
}
