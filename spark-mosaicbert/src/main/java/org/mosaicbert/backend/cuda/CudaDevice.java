package org.mosaicbert.backend.cuda;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One NVIDIA GPU (sm_80 or newer) as a {@link Device}: its primary context and the kernels, compiled by
 * {@link NvrtcCompiler} and launched by name, each launch checked against the kernel's signature
 * ({@link KernelSignatures}); memory and copies are {@link DeviceMemory}'s, the GEMMs {@link CublasGemms}'.
 * Everything runs on the legacy default stream.
 *
 * <p>Like CUDA itself, it works on the thread that opened it (the training task's thread): the device is current
 * there.
 *
 * <p>CudaBackend's tests in every build run on an emulated device instead, which covers the kernels and CudaBackend's
 * own code but not this class or its parts. This class as split into those parts, and its launch check, have not run
 * on a GPU.
 */
final class CudaDevice implements Device {
  private static final Logger LOG = LoggerFactory.getLogger(CudaDevice.class);
  /** -Dmosaicbert.cuda.syncEachLaunch=true: synchronise after every launch (the GPU check's parity phase). */
  private static final boolean SYNC_EACH_LAUNCH = Boolean.getBoolean("mosaicbert.cuda.syncEachLaunch");

  private final int ordinal;
  private final String arch;
  private final DeviceMemory memory;
  private final CublasGemms gemms;
  private final KernelSignatures signatures;
  private final Map<String, CUfunc_st> functions = new HashMap<>();
  private final List<CUmod_st> modules = new ArrayList<>();
  private final KernelArguments kernelArguments = new KernelArguments();
  private boolean closed;

  /**
   * Opens CUDA device {@code ordinal} (the barrier task's GPU address): its primary context, the pinned staging
   * memory, the cuBLAS handles, the kernels (compiled, or loaded from the cache).
   */
  CudaDevice(int ordinal) {
    requireCuda();
    this.ordinal = ordinal;
    check(cudart.cudaSetDevice(ordinal), "cudaSetDevice(" + ordinal + ")");
    check(cudart.cudaFree(null), "cudaFree(0) (creating the primary context)");
    int[] major = new int[1];
    int[] minor = new int[1];
    check(cudart.cudaDeviceGetAttribute(major, cudart.cudaDevAttrComputeCapabilityMajor, ordinal), "capability");
    check(cudart.cudaDeviceGetAttribute(minor, cudart.cudaDevAttrComputeCapabilityMinor, ordinal), "capability");
    this.arch = "sm_" + major[0] + minor[0];
    LOG.info("CUDA device {} ({})", ordinal, arch);
    Map<String, String> kernelFiles = Device.kernelFiles();
    this.signatures = KernelSignatures.of(kernelFiles);
    DeviceMemory memory = null;
    CublasGemms gemms = null;
    try {
      memory = new DeviceMemory();
      gemms = new CublasGemms();
      loadKernels(kernelFiles);
    } catch (Throwable e) { // an UnsatisfiedLinkError (a missing library) is an Error, and must free the GPU too
      close(); // a retried task on this executor must find the GPU free
      if (gemms != null) {
        gemms.close();
      }
      if (memory != null) {
        memory.close();
      }
      throw e;
    }
    this.memory = memory;
    this.gemms = gemms;
  }

  /** Fails with the probe's reason (missing driver or library) before any CUDA call could fail to link. */
  static void requireCuda() {
    CudaProbe.Result probe = CudaProbe.probe();
    if (!probe.available()) {
      throw new IllegalStateException("CudaBackend: " + probe.describe());
    }
  }

  /** The free memory of device {@code ordinal}, in bytes (and its total, logged). */
  static long freeBytes(int ordinal) {
    requireCuda();
    check(cudart.cudaSetDevice(ordinal), "cudaSetDevice(" + ordinal + ")");
    try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
      check(cudart.cudaMemGetInfo(free, total), "cudaMemGetInfo");
      LOG.info("CUDA device {}: {} MiB free of {} MiB", ordinal, free.get() >> 20, total.get() >> 20);
      return free.get();
    }
  }

  /** Each kernel file as a module of its own, and each of its kernels found by name. */
  private void loadKernels(Map<String, String> kernelFiles) {
    NvrtcCompiler compiler = new NvrtcCompiler(arch);
    for (Map.Entry<String, String> file : kernelFiles.entrySet()) {
      byte[] cubin = compiler.cubin(file.getKey(), file.getValue());
      CUmod_st module = new CUmod_st();
      try (BytePointer image = new BytePointer(cubin)) {
        check(cudart.cuModuleLoadData(module, image), "cuModuleLoadData(" + file.getKey() + ")");
      }
      modules.add(module);
      for (KernelSignatures.Kernel kernel : signatures.inFile(file.getKey())) {
        CUfunc_st function = new CUfunc_st();
        check(cudart.cuModuleGetFunction(function, module, kernel.name()), "cuModuleGetFunction(" + kernel.name()
            + ")");
        functions.put(kernel.name(), function);
      }
    }
  }

  @Override
  public String arch() {
    return arch;
  }

  @Override
  public long allocateArena(long bytes) {
    return memory.allocateArena(bytes);
  }

  @Override
  public void write(long address, int[] src, int n) {
    memory.write(address, src, n);
  }

  @Override
  public void write(long address, long[] src, int n) {
    memory.write(address, src, n);
  }

  @Override
  public void write(long address, float[] src, int offset, int n) {
    memory.write(address, src, offset, n);
  }

  @Override
  public void read(long address, float[] dst, int offset, int n) {
    memory.read(address, dst, offset, n);
  }

  @Override
  public void read(long address, int[] dst, int n) {
    memory.read(address, dst, n);
  }

  @Override
  public void copy(long dst, long src, long bytes) {
    memory.copy(dst, src, bytes);
  }

  @Override
  public void zero(long address, long bytes) {
    memory.zero(address, bytes);
  }

  /**
   * cuLaunchKernel with arguments boxed by their C type (see {@link Device}), after checking them against the
   * kernel's signature: the driver would take a short or mistyped list without a word.
   */
  @Override
  public void launch(String name, int gx, int gy, int gz, int block, int sharedBytes, Object... args) {
    signatures.check(name, args);
    if (gx < 1 || gy < 1 || gy > 65535 || gz < 1 || gz > 65535 || block < 1 || block > 1024) {
      throw new IllegalArgumentException("launch of " + launchDescription(name, gx, gy, gz, block, sharedBytes)
          + " is outside the hardware's limits (grid x 1..2^31-1, y and z 1..65535, 1..1024 threads a block)");
    }
    int err = cudart.cuLaunchKernel(functions.get(name), gx, gy, gz, block, 1, 1, sharedBytes, (CUstream_st) null,
        kernelArguments.pack(args), (PointerPointer<?>) null);
    if (err != 0) {
      check(err, "cuLaunchKernel(" + launchDescription(name, gx, gy, gz, block, sharedBytes) + ")");
    }
    if (SYNC_EACH_LAUNCH) { // a device fault then names its kernel instead of a later synchronisation
      check(cudart.cudaDeviceSynchronize(), "kernel " + launchDescription(name, gx, gy, gz, block, sharedBytes));
    }
  }

  private static String launchDescription(String name, int gx, int gy, int gz, int block, int sharedBytes) {
    return name + ", grid (" + gx + ", " + gy + ", " + gz + "), block " + block + ", " + sharedBytes
        + " bytes of dynamic shared memory";
  }

  @Override
  public void linear(long out, long inp, long weight, long bias, int rows, int in, int outDim) {
    gemms.linear(out, inp, weight, bias, rows, in, outDim);
  }

  @Override
  public void linearWeightGradient(long dweight, long dout, long inp, int rows, int in, int outDim) {
    gemms.linearWeightGradient(dweight, dout, inp, rows, in, outDim);
  }

  @Override
  public void linearInputGradient(long dinp, long dout, long weight, int rows, int in, int outDim,
      boolean accumulate) {
    gemms.linearInputGradient(dinp, dout, weight, rows, in, outDim, accumulate);
  }

  @Override
  public void synchronize() {
    check(cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }

  /**
   * Frees everything, also after a failed construction (then the constructor frees the parts it made). The calling
   * thread's device may be another (CUDA keeps it per thread), and work may still run: both are settled first.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    cudart.cudaSetDevice(ordinal);
    cudart.cudaDeviceSynchronize();
    for (CUmod_st module : modules) {
      cudart.cuModuleUnload(module);
    }
    if (gemms != null) {
      gemms.close();
    }
    if (memory != null) {
      memory.close();
    }
    kernelArguments.close();
  }

  /** Throws, naming the call, when a CUDA runtime or driver call returned an error. */
  static void check(int err, String what) {
    if (err != 0) {
      throw new IllegalStateException("CUDA error in " + what + ": " + CudaProbe.errorString(err));
    }
  }
}
