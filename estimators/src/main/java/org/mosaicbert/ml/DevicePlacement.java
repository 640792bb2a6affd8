package org.mosaicbert.ml;

import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.resource.ResourceInformation;
import org.mosaicbert.backend.cuda.CudaProbe;
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

  /** Every param value, for the param's validator and for messages. */
  public static String[] paramValues() {
    return EnumParams.paramValues(DevicePlacement.class);
  }

  /** The placement of a param value. */
  public static DevicePlacement of(String paramValue) {
    return EnumParams.parse(DevicePlacement.class, "device", paramValue);
  }

  /**
   * The backend a fit trains on, CPU or GPU, decided on the driver: CPU always for CPU; for GPU, on a cluster when
   * tasks get a GPU each ({@code spark.task.resource.gpu.amount}), in local mode when {@link CudaProbe} finds a usable
   * device, else an {@link IllegalArgumentException} saying what is missing; AUTO the CPU, said in the log. GPU
   * training through Spark's barrier tasks and NCCL across two or more GPUs have not run yet: until they have, GPU
   * trains with a warning and AUTO does not choose it.
   */
  DevicePlacement resolve(SparkConf conf, boolean localMaster) {
    switch (this) {
      case CPU:
        return CPU;
      case AUTO:
        // No probe: auto cannot pick the GPU yet, and a CPU run need not load the CUDA libraries.
        LOG.info("device=auto: training on the CPU (GPU training through Spark has not run yet; device=gpu uses "
            + "the GPU anyway)");
        return CPU;
      default:
        String where;
        if (localMaster) {
          CudaProbe.Result cuda = CudaProbe.probe();
          if (!cuda.available()) {
            throw new IllegalArgumentException("device=gpu, but there is " + cuda.describe() + "; use device=cpu, "
                + "or device=auto to fall back to the CPU");
          }
          where = "found " + cuda.describe();
        } else {
          double amount = conf.getDouble("spark.task.resource.gpu.amount", 0);
          if (amount < 1 || amount != Math.rint(amount)) {
            throw new IllegalArgumentException("device=gpu on a cluster needs spark.task.resource.gpu.amount = 1 "
                + "(each training task a whole GPU of its own: NCCL refuses two ranks on one GPU), got "
                + (amount == 0 ? "none" : amount) + "; see conf/spark-defaults.gpu.conf, or use device=cpu");
          }
          where = "one GPU per task";
        }
        LOG.warn("device=gpu ({}): GPU training through Spark and NCCL across GPUs have not run yet; run "
            + "scripts/gpu-check.sh on one of your GPUs first, and compare the loss curve with a device=cpu run",
            where);
        return GPU;
    }
  }

  /**
   * The CUDA ordinal of a GPU worker: the first address of the task's {@code gpu} resource (Spark's resource
   * scheduling), else, with no such resource (local mode), the worker's rank when the machine has that many devices.
   */
  static int gpuOrdinal(Map<String, ResourceInformation> resources, int rank, int deviceCount) {
    ResourceInformation gpu = resources.get("gpu");
    if (gpu != null && gpu.addresses().length > 0) {
      String address = gpu.addresses()[0].trim();
      try {
        return Integer.parseInt(address);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("worker " + rank + ": the task's gpu resource address '" + address
            + "' is not a CUDA device number; the discovery script (spark.executor.resource.gpu.discoveryScript) "
            + "must list GPUs by index, as Spark's getGpusResources.sh does");
      }
    }
    if (rank >= deviceCount) {
      throw new IllegalArgumentException("worker " + rank + " has no GPU: the task has no gpu resource and this "
          + "machine has " + deviceCount + " CUDA device(s); set spark.task.resource.gpu.amount=1 with the executors' "
          + "gpu resources (conf/spark-defaults.gpu.conf), or lower numWorkers");
    }
    return rank;
  }
}
