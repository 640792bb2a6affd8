package org.mosaicbert.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@link CudaBackend} asks of a GPU: one arena of device memory, copies to and from it, launches of the kernel
 * files' extern "C" kernels by name, and the three GEMMs of a linear layer. {@link CudaDevice} is the real one (CUDA
 * runtime, NVRTC, cuBLAS/cuBLASLt); the tests also run CudaBackend on a device that executes the same kernel files
 * on the CPU, so that everything but the hardware and NVIDIA's libraries is checked on every build.
 *
 * <p>Addresses are device addresses (longs); kernel arguments are boxed by their C type: {@link Ptr} for a pointer,
 * Integer for int, Long for long long, Float for float. Every launch checks them against the kernel's signature in
 * its file ({@link KernelSignatures}).
 */
interface Device extends AutoCloseable {
  /** The kernel files (resources beside this class), each an NVRTC program of its own. */
  String[] SOURCES = {"adamw", "attention", "attention_small", "elementwise", "embedding", "layernorm", "loss",
      "reduce", "unpad"};

  /** A device-pointer kernel argument (distinct from a long long one). */
  record Ptr(long address) {}

  /** The device's architecture, sm_XX. */
  String arch();

  /** Allocates the arena once: {@code bytes} of zeroed device memory, 256-byte aligned; returns its address. */
  long allocateArena(long bytes);

  void write(long address, int[] src, int n);

  void write(long address, long[] src, int n);

  void write(long address, float[] src, int offset, int n);

  void read(long address, float[] dst, int offset, int n);

  void read(long address, int[] dst, int n);

  void copy(long dst, long src, long bytes);

  void zero(long address, long bytes);

  /**
   * Launches kernel {@code name} on a grid of gx x gy x gz blocks of {@code block} threads; throws an
   * IllegalArgumentException when the arguments do not match its signature ({@link KernelSignatures#check}).
   */
  void launch(String name, int gx, int gy, int gz, int block, int sharedBytes, Object... args);

  /**
   * out[rows, outDim] = inp[rows, in] · weight[outDim, in]ᵀ (+ bias[outDim] unless bias is 0); all bf16. A bias must
   * be 16-byte aligned (cuBLASLt's epilogue faults on less).
   */
  void linear(long out, long inp, long weight, long bias, int rows, int in, int outDim);

  /** dweight[outDim, in] (float32) += dout[rows, outDim]ᵀ · inp[rows, in] (bf16). */
  void linearWeightGradient(long dweight, long dout, long inp, int rows, int in, int outDim);

  /** dinp[rows, in] = dout[rows, outDim] · weight[outDim, in], or += when accumulate; all bf16. */
  void linearInputGradient(long dinp, long dout, long weight, int rows, int in, int outDim, boolean accumulate);

  /** Waits for everything launched and reports an asynchronous error. */
  void synchronize();

  @Override
  void close();

  /** A kernel file's text. */
  static String resource(String file) {
    try (InputStream in = Device.class.getResourceAsStream(file)) {
      if (in == null) {
        throw new IllegalStateException("missing kernel resource " + file);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The kernel files of {@link #SOURCES} by file name ("adamw.cu" ...), in that order, each with its text. */
  static Map<String, String> kernelFiles() {
    Map<String, String> files = new LinkedHashMap<>();
    for (String source : SOURCES) {
      files.put(source + ".cu", resource(source + ".cu"));
    }
    return files;
  }
}
