package org.mosaicbert.backend.cuda;

/**
 * The GPUs a Spark task opens: this machine's CUDA devices ({@link #MACHINE}), or another implementation named by
 * class in {@value #SPARK_CONF}. The other is for testing: the tests name one that opens the emulated device (the
 * kernel files run on the CPU), so that the glue between Spark and this backend (device=gpu fits through the barrier
 * launcher, GPU scoring) runs in every build on machines without a GPU.
 */
public interface GpuDevices {
  /** The Spark setting that names another implementation (a class with a public no-argument constructor). */
  String SPARK_CONF = "spark.mosaicbert.gpuDevices";

  /** Whether there is a usable device, how many, and if not why not. */
  CudaProbe.Result probe();

  /**
   * A backend on device {@code ordinal} (a CUDA ordinal) whose memory is {@code taskShare} of what the device can
   * give: 1 for a training worker, which owns its GPU; less for scoring tasks that share one.
   */
  CudaBackend open(int ordinal, double taskShare);

  /**
   * Whether workers reduce gradients with NCCL in device memory; if not, through host memory over the TCP ring, as CPU
   * workers do.
   */
  boolean reducesWithNccl();

  /** This machine's CUDA devices, through the CUDA runtime and NCCL. */
  GpuDevices MACHINE = new GpuDevices() {
    @Override
    public CudaProbe.Result probe() {
      return CudaProbe.probe();
    }

    @Override
    public CudaBackend open(int ordinal, double taskShare) {
      return CudaBackend.open(ordinal, taskShare);
    }

    @Override
    public boolean reducesWithNccl() {
      return true;
    }
  };

  /** {@link #MACHINE} for an empty name, else an instance of the class named (the value of {@value #SPARK_CONF}). */
  static GpuDevices named(String className) {
    if (className.isEmpty()) {
      return MACHINE;
    }
    try {
      return (GpuDevices) Class.forName(className, true, Thread.currentThread().getContextClassLoader())
          .getConstructor().newInstance();
    } catch (ReflectiveOperationException | ClassCastException e) {
      throw new IllegalArgumentException(SPARK_CONF + " = " + className + ": not a GpuDevices class with a public "
          + "no-argument constructor on the class path (" + e + "); leave it unset to use this machine's GPUs", e);
    }
  }
}
