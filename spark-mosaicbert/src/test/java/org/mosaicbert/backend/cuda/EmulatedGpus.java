package org.mosaicbert.backend.cuda;

/**
 * {@link GpuDevices} of emulated devices (the kernel files run on the CPU, {@link EmulatedDevice}): named in
 * {@value GpuDevices#SPARK_CONF}, it lets device=gpu fits and GPU scoring run through Spark without a GPU. The machine
 * seems to have {@value #DEVICES} devices; gradients go over the TCP ring, since NCCL cannot reach their memory.
 */
public final class EmulatedGpus implements GpuDevices {
  public static final int DEVICES = 2;
  /** Each device's memory: the tiny model's training and scoring need far less. */
  private static final long ARENA_BYTES = 256L << 20;

  @Override
  public CudaProbe.Result probe() {
    if (EmulatedDevice.compiler() == null) {
      return CudaProbe.Result.unavailable("no g++ on the PATH to build the emulated device");
    }
    return new CudaProbe.Result(true, "", DEVICES, 9, 0, "emulated device", 0, 0, "the kernel files as host C++");
  }

  @Override
  public CudaBackend open(int ordinal, double taskShare) {
    if (ordinal < 0 || ordinal >= DEVICES) {
      throw new IllegalArgumentException("no emulated device " + ordinal + " (there are " + DEVICES + ")");
    }
    return new CudaBackend(new EmulatedDevice(), (long) (ARENA_BYTES * taskShare));
  }

  @Override
  public boolean reducesWithNccl() {
    return false;
  }
}
