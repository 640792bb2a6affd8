package org.mosaicbert.ml;

import java.util.Map;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.mosaicbert.backend.cuda.CudaBackend;
import org.mosaicbert.backend.cuda.CudaProbe;
import org.mosaicbert.backend.cuda.GpuDevices;

/**
 * The GPU a Spark task runs on, found one way by training workers and scoring tasks alike: the devices the
 * application's {@value GpuDevices#SPARK_CONF} names (the machine's, unless set), and the CUDA ordinal of the task's
 * gpu resource ({@link DevicePlacement#gpuOrdinal}, honouring {@code CUDA_VISIBLE_DEVICES}).
 *
 * @param devices where the device comes from
 * @param ordinal its CUDA ordinal
 */
record TaskGpu(GpuDevices devices, int ordinal) {
  /**
   * The GPU of the running task ({@code task}, null outside one: device {@code rank}); {@code who} names the task in
   * the error when there is no usable device.
   */
  static TaskGpu of(TaskContext task, int rank, String who) {
    GpuDevices gpus = GpuDevices.named(SparkEnv.get().conf().get(GpuDevices.SPARK_CONF, ""));
    CudaProbe.Result cuda = gpus.probe();
    if (!cuda.available()) {
      throw new IllegalStateException(who + ": device=gpu, but there is " + cuda.describe());
    }
    return new TaskGpu(gpus, DevicePlacement.gpuOrdinal(task == null ? Map.of() : task.resourcesJMap(), rank,
        cuda.deviceCount(), System.getenv("CUDA_VISIBLE_DEVICES")));
  }

  /** A backend on this GPU with {@code taskShare} of what the device can give ({@link GpuDevices#open}). */
  CudaBackend open(double taskShare) {
    return devices.open(ordinal, taskShare);
  }
}
