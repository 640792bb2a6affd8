package org.mosaicbert.backend.cuda;

/**
 * The one place that finds out whether CUDA can be used in this JVM. It loads every JavaCPP CUDA preset the backend
 * uses (the runtime and driver, cuBLAS and cuBLASLt, NVRTC, NCCL) once, notes their versions, and asks the runtime
 * for a device; every failure (no JNI bridge, no {@code libcuda.so.1}, no device, a CUDA error) becomes an
 * {@link Result} with the reason, never an exception. Without a driver, loading the presets throws
 * {@link UnsatisfiedLinkError} and afterwards every CUDA class in this JVM throws {@link NoClassDefFoundError}; that
 * is why the answer is computed once and remembered, and why nothing else should touch {@code org.bytedeco.cuda}
 * before asking here. The CPU path never loads a CUDA class, so a failed probe leaves it intact.
 */
public final class CudaProbe {
  /**
   * What the probe found: when {@code available}, the device count and device 0's compute capability and name;
   * otherwise {@code reason} says why not.
   */
  public record Result(boolean available, String reason, int deviceCount, int ccMajor, int ccMinor, String name,
      int driverVersion, int runtimeVersion, String libraries) {
    static Result unavailable(String reason) {
      return new Result(false, reason, 0, 0, 0, "", 0, 0, "");
    }

    /** One line for logs and error messages. */
    public String describe() {
      return available ? deviceCount + " CUDA device(s), device 0 " + name + " (sm_" + ccMajor + ccMinor + "), driver "
          + driverVersion + ", runtime " + runtimeVersion + ", " + libraries
          : "no usable CUDA device (" + reason + ")";
    }
  }

  /** The presets besides the runtime that the backend loads, each with the library it binds. */
  private static final String[][] PRESETS = {
      {"org.bytedeco.cuda.global.cublas", "cuBLAS and cuBLASLt (libcublas.so.13, libcublasLt.so.13)"},
      {"org.bytedeco.cuda.global.nvrtc", "NVRTC (libnvrtc.so.13)"},
      {"org.bytedeco.cuda.global.nccl", "NCCL (libnccl.so.2)"}};

  private static Result result;

  private CudaProbe() {}

  /** The answer for this JVM, probing on the first call only. */
  public static synchronized Result probe() {
    if (result == null) {
      result = probeOnce();
    }
    return result;
  }

  /** True when {@link #probe()} found a device. */
  public static boolean available() {
    return probe().available();
  }

  private static Result probeOnce() {
    if (Boolean.getBoolean("mosaicbert.cuda.disable")) {
      return Result.unavailable("disabled by -Dmosaicbert.cuda.disable=true");
    }
    String failed = load("org.bytedeco.cuda.global.cudart", "the CUDA driver and runtime (libcuda.so.1, "
        + "libcudart.so.13)");
    if (failed != null) {
      return Result.unavailable(failed);
    }
    Result device;
    try {
      device = query();
    } catch (LinkageError | RuntimeException e) {
      return Result.unavailable("querying the CUDA runtime failed: " + oneLine(e));
    }
    for (String[] preset : PRESETS) {
      failed = load(preset[0], preset[1]);
      if (failed != null) {
        return Result.unavailable(failed);
      }
    }
    if (!device.available()) {
      return device;
    }
    try {
      return new Result(true, "", device.deviceCount(), device.ccMajor(), device.ccMinor(), device.name(),
          device.driverVersion(), device.runtimeVersion(), libraryVersions());
    } catch (LinkageError | RuntimeException e) {
      return Result.unavailable("asking the CUDA libraries for their versions failed: " + oneLine(e));
    }
  }

  /** Loads one preset class (and so its JNI bridge and NVIDIA library); null when it loaded, else why not. */
  private static String load(String className, String what) {
    try {
      Class.forName(className, true, CudaProbe.class.getClassLoader());
      return null;
    } catch (ClassNotFoundException e) {
      return "the JavaCPP CUDA presets (org.bytedeco:cuda) are not on the class path";
    } catch (ExceptionInInitializerError e) {
      return what + " did not load: " + oneLine(e.getCause() == null ? e : e.getCause());
    } catch (LinkageError e) {
      // UnsatisfiedLinkError (no libcuda.so.1, no JNI bridge) or NoClassDefFoundError (an earlier failed load).
      return what + " did not load: " + oneLine(e);
    } catch (RuntimeException e) {
      return "loading " + what + " failed: " + oneLine(e);
    }
  }

  private static String libraryVersions() {
    int[] cublasVersion = new int[3];
    for (int i = 0; i < 3; i++) { // MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
      int[] one = new int[1];
      org.bytedeco.cuda.global.cublas.cublasGetProperty(i, one);
      cublasVersion[i] = one[0];
    }
    int[] major = new int[1];
    int[] minor = new int[1];
    org.bytedeco.cuda.global.nvrtc.nvrtcVersion(major, minor);
    int[] nccl = new int[1];
    org.bytedeco.cuda.global.nccl.ncclGetVersion(nccl);
    return "cuBLAS " + cublasVersion[0] + "." + cublasVersion[1] + "." + cublasVersion[2] + ", cuBLASLt "
        + org.bytedeco.cuda.global.cublas.cublasLtGetVersion() + ", NVRTC " + major[0] + "." + minor[0] + ", NCCL "
        + nccl[0] / 10000 + "." + nccl[0] / 100 % 100 + "." + nccl[0] % 100;
  }

  private static Result query() {
    int[] driver = new int[1];
    int err = org.bytedeco.cuda.global.cudart.cudaDriverGetVersion(driver);
    if (err != 0 || driver[0] == 0) {
      return Result.unavailable("no CUDA driver (cudaDriverGetVersion: " + errorString(err) + ")");
    }
    int[] runtime = new int[1];
    org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion(runtime);
    int[] count = new int[1];
    err = org.bytedeco.cuda.global.cudart.cudaGetDeviceCount(count);
    if (err != 0) {
      return Result.unavailable("cudaGetDeviceCount: " + errorString(err));
    }
    if (count[0] == 0) {
      return Result.unavailable("the CUDA driver sees no device");
    }
    int[] major = new int[1];
    int[] minor = new int[1];
    err = org.bytedeco.cuda.global.cudart.cudaDeviceGetAttribute(major,
        org.bytedeco.cuda.global.cudart.cudaDevAttrComputeCapabilityMajor, 0);
    if (err == 0) {
      err = org.bytedeco.cuda.global.cudart.cudaDeviceGetAttribute(minor,
          org.bytedeco.cuda.global.cudart.cudaDevAttrComputeCapabilityMinor, 0);
    }
    if (err != 0) {
      return Result.unavailable("cudaDeviceGetAttribute(compute capability): " + errorString(err));
    }
    if (major[0] < 8) {
      return Result.unavailable("device 0 has compute capability " + major[0] + "." + minor[0]
          + "; the kernels need 8.0 or newer (bf16 mma)");
    }
    String name = "";
    try (org.bytedeco.cuda.cudart.cudaDeviceProp prop = new org.bytedeco.cuda.cudart.cudaDeviceProp()) {
      if (org.bytedeco.cuda.global.cudart.cudaGetDeviceProperties(prop, 0) == 0) {
        name = prop.name().getString();
      }
    }
    return new Result(true, "", count[0], major[0], minor[0], name, driver[0], runtime[0], "");
  }

  static String errorString(int err) {
    try {
      return err + " " + org.bytedeco.cuda.global.cudart.cudaGetErrorString(err).getString();
    } catch (LinkageError | RuntimeException e) {
      return "error " + err;
    }
  }

  /** The error and its causes on one line (JavaCPP's "no jnicudart" hides "libcuda.so.1: cannot open" in a cause). */
  private static String oneLine(Throwable t) {
    StringBuilder line = new StringBuilder();
    java.util.Set<Throwable> seen = new java.util.HashSet<>();
    for (Throwable e = t; e != null && seen.add(e); e = e.getCause()) {
      String message = e.getMessage() == null ? "" : e.getMessage().replace('\n', ' ');
      line.append(line.length() == 0 ? "" : "; caused by ").append(e.getClass().getSimpleName())
          .append(message.isEmpty() ? "" : ": " + message);
      for (Throwable s : e.getSuppressed()) {
        line.append("; after ").append(s.getClass().getSimpleName()).append(": ").append(s.getMessage());
      }
    }
    return line.toString();
  }
}
