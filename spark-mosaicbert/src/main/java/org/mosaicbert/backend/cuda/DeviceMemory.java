package org.mosaicbert.backend.cuda;

import static org.mosaicbert.backend.cuda.CudaDevice.check;

import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The memory side of {@link CudaDevice}: its one arena of device memory, and the copies between it and the host, on
 * the legacy default stream. Host-to-device copies are staged through a ring of pinned host memory (see
 * {@link #writeAsync}).
 */
final class DeviceMemory implements AutoCloseable {
  /** Pinned host memory that writes go through. */
  private static final long PINNED_BYTES = 64L << 20;

  private final Pointer pinned = new Pointer();
  private long pinnedUsed;
  private Pointer arena;

  /** Allocates the pinned ring; the device must be current on this thread. */
  DeviceMemory() {
    check(cudart.cudaMallocHost(pinned, PINNED_BYTES), "cudaMallocHost(" + PINNED_BYTES + " bytes)");
  }

  /** See {@link Device#allocateArena}. */
  long allocateArena(long bytes) {
    if (arena != null) {
      throw new IllegalStateException("the arena is allocated once");
    }
    arena = new Pointer();
    check(cudart.cudaMalloc(arena, bytes), "cudaMalloc(" + bytes + " bytes)");
    check(cudart.cudaMemset(arena, 0, bytes), "cudaMemset(arena)");
    return arena.address();
  }

  void write(long address, int[] src, int n) {
    writeAsync(address, n, 4, (at, from, count) -> new IntPointer(CudaBackend.ptr(at)).put(src, from, count));
  }

  void write(long address, long[] src, int n) {
    writeAsync(address, n, 8, (at, from, count) -> new LongPointer(CudaBackend.ptr(at)).put(src, from, count));
  }

  void write(long address, float[] src, int offset, int n) {
    writeAsync(address, n, 4,
        (at, from, count) -> new FloatPointer(CudaBackend.ptr(at)).put(src, offset + from, count));
  }

  /** Copies elements [from, from + count) of a host array to pinned memory at {@code at}. */
  private interface Fill {
    void into(long at, int from, int count);
  }

  /**
   * Host-to-device copies through pinned memory with cudaMemcpyAsync, so that they queue behind the kernels. Every
   * step stages small host arrays (token ids, cu_seqlens, labels, dropout keys) many times; a cudaMemcpy from
   * pageable memory would first wait for the stream to drain, and the GPU would idle while the host launches the
   * next kernels. The pinned memory is a ring: it is reused from its start once full, after a synchronisation (the
   * copies still reading it are done then). Large arrays go in chunks of half the ring.
   */
  private void writeAsync(long address, int n, int elementBytes, Fill fill) {
    int chunk = (int) (PINNED_BYTES / 2 / elementBytes);
    for (int from = 0; from < n; from += chunk) {
      int count = Math.min(chunk, n - from);
      long bytes = (long) count * elementBytes;
      long at = (pinnedUsed + 15) / 16 * 16;
      if (at + bytes > PINNED_BYTES) {
        check(cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        at = 0;
      }
      pinnedUsed = at + bytes;
      fill.into(pinned.address() + at, from, count);
      check(cudart.cudaMemcpyAsync(CudaBackend.ptr(address + (long) from * elementBytes),
          CudaBackend.ptr(pinned.address() + at), bytes, cudart.cudaMemcpyHostToDevice, (CUstream_st) null),
          "cudaMemcpyAsync(" + bytes + " bytes)");
    }
  }

  void read(long address, float[] dst, int offset, int n) {
    if (n > 0) {
      try (FloatPointer p = new FloatPointer(n)) {
        check(cudart.cudaMemcpy(p, CudaBackend.ptr(address), 4L * n, cudart.cudaMemcpyDeviceToHost), "download");
        p.get(dst, offset, n);
      }
    }
  }

  void read(long address, int[] dst, int n) {
    if (n > 0) {
      try (IntPointer p = new IntPointer(n)) {
        check(cudart.cudaMemcpy(p, CudaBackend.ptr(address), 4L * n, cudart.cudaMemcpyDeviceToHost), "download");
        p.get(dst, 0, n);
      }
    }
  }

  void copy(long dst, long src, long bytes) {
    check(cudart.cudaMemcpy(CudaBackend.ptr(dst), CudaBackend.ptr(src), bytes, cudart.cudaMemcpyDeviceToDevice),
        "cudaMemcpy(device to device)");
  }

  void zero(long address, long bytes) {
    check(cudart.cudaMemset(CudaBackend.ptr(address), 0, bytes), "cudaMemset");
  }

  /** Frees the pinned ring and the arena; call after a synchronisation, on the device's thread. */
  @Override
  public void close() {
    if (!pinned.isNull()) {
      cudart.cudaFreeHost(pinned);
    }
    if (arena != null) {
      cudart.cudaFree(arena);
    }
  }
}
