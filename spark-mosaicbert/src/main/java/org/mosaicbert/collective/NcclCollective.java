package org.mosaicbert.collective;

import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreate;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaErrorNotReady;
import static org.bytedeco.cuda.global.cudart.cudaStreamQuery;
import static org.bytedeco.cuda.global.nccl.ncclAllReduce;
import static org.bytedeco.cuda.global.nccl.ncclCommAbort;
import static org.bytedeco.cuda.global.nccl.ncclCommGetAsyncError;
import static org.bytedeco.cuda.global.nccl.ncclCommDestroy;
import static org.bytedeco.cuda.global.nccl.ncclCommInitRank;
import static org.bytedeco.cuda.global.nccl.ncclFloat32;
import static org.bytedeco.cuda.global.nccl.ncclGetErrorString;
import static org.bytedeco.cuda.global.nccl.ncclGetUniqueId;
import static org.bytedeco.cuda.global.nccl.ncclSuccess;
import static org.bytedeco.cuda.global.nccl.ncclSum;

import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.View;
import org.mosaicbert.backend.cuda.CudaBackend;

/**
 * NCCL collectives for GPU workers, through the JavaCPP CUDA presets.
 *
 * <p><b>RAN ON ONE GPU ONLY</b> (an NVIDIA H200, 2026-12-04, NCCL 2.28.3): {@code GpuCheck}'s training phase reduces
 * through it with one rank. Two or more ranks have NEVER RUN. It is written against the NCCL and CUDA runtime APIs of
 * {@code org.bytedeco:cuda:13.1-9.19-1.5.13} and kept off every CPU path (nothing loads the CUDA libraries unless
 * this class is used).
 *
 * <p>Rendezvous: rank 0 calls {@link #newUniqueId()} and shares the bytes with the other ranks (in Spark, through
 * {@code BarrierTaskContext.allGather}); every rank then constructs its collective with them. The device operations
 * take device pointers; the {@link Collective} methods on host arrays stage through one device buffer.
 *
 * <p>No operation waits forever: a blocked NCCL kernel is out of reach of Spark's task kill, so a rank whose peer
 * died would hold its GPU until the executor went. Each operation is polled against a deadline (the trainer's ring
 * timeout) and NCCL's asynchronous error; on either, the communicator is aborted (which ends its kernels) and the
 * operation throws.
 */
public final class NcclCollective extends RankedCollective {
  private final long timeoutMillis;
  private boolean aborted;
  private final ncclComm comm = new ncclComm();
  private final CUstream_st stream = new CUstream_st();
  private FloatPointer staging;
  private long stagingFloats;

  /** A fresh NCCL unique id (128 bytes), made by rank 0. */
  public static byte[] newUniqueId() {
    ncclUniqueId id = new ncclUniqueId();
    ncclCheck(ncclGetUniqueId(id), "ncclGetUniqueId");
    byte[] bytes = new byte[128];
    id.internal().get(bytes);
    return bytes;
  }

  public NcclCollective(int rank, int worldSize, byte[] uniqueId, int device, long timeoutMillis) {
    super(rank, worldSize);
    this.timeoutMillis = timeoutMillis;
    cudaCheck(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
    cudaCheck(cudaStreamCreate(stream), "cudaStreamCreate");
    ncclUniqueId id = new ncclUniqueId();
    id.internal().put(uniqueId);
    ncclCheck(ncclCommInitRank(comm, worldSize, id, rank), "ncclCommInitRank(rank " + rank + " of " + worldSize
        + ")");
  }

  /** In place on the device: buffer[0, count) ← Σ over ranks. */
  public void allReduceSum(Pointer deviceBuffer, long count) {
    ncclCheck(ncclAllReduce(deviceBuffer, deviceBuffer, count, ncclFloat32, ncclSum, comm, stream), "ncclAllReduce");
    await("ncclAllReduce of " + count + " floats");
  }

  @Override
  public boolean reducesInDeviceMemory(Backend backend) {
    return backend instanceof CudaBackend;
  }

  /** On the CUDA backend the gradients are summed in device memory, the statistics through the staging buffer. */
  @Override
  public void allReduceGradients(Backend backend, View gradients, int n, float[] stats, float[] scratch) {
    if (!(backend instanceof CudaBackend cuda)) {
      super.allReduceGradients(backend, gradients, n, stats, scratch);
      return;
    }
    allReduceSum(CudaBackend.ptr(cuda.float32Address(gradients)), n);
    allReduceSum(stats);
  }

  @Override
  public void allReduceSum(float[] data) {
    FloatPointer device = stage(data);
    allReduceSum(device, data.length);
    unstage(device, data);
  }

  private FloatPointer stage(float[] data) {
    if (staging == null || stagingFloats < data.length) {
      if (staging != null) {
        cudaFree(staging);
      }
      staging = new FloatPointer();
      cudaCheck(cudaMalloc(staging, 4L * data.length), "cudaMalloc(" + 4L * data.length + " bytes)");
      stagingFloats = data.length;
    }
    try (FloatPointer host = new FloatPointer(data)) {
      cudaCheck(cudaMemcpy(staging, host, 4L * data.length, cudaMemcpyHostToDevice), "cudaMemcpy host to device");
    }
    return staging;
  }

  private static void unstage(FloatPointer device, float[] data) {
    try (FloatPointer host = new FloatPointer(data.length)) {
      cudaCheck(cudaMemcpy(host, device, 4L * data.length, cudaMemcpyDeviceToHost), "cudaMemcpy device to host");
      host.get(data);
    }
  }

  /** Waits for the stream, polling NCCL's asynchronous error and the deadline; aborts the communicator on either. */
  private void await(String what) {
    long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
    int[] asyncError = new int[1];
    while (true) {
      int query = cudaStreamQuery(stream);
      if (query == 0) {
        return;
      }
      if (query != cudaErrorNotReady) {
        cudaCheck(query, what);
      }
      ncclCommGetAsyncError(comm, asyncError);
      if (asyncError[0] != ncclSuccess) {
        abort();
        throw new IllegalStateException("worker " + rank + ": " + what + " failed: "
            + ncclGetErrorString(asyncError[0]).getString() + " (NCCL status " + asyncError[0] + ")");
      }
      if (System.nanoTime() > deadline || Thread.currentThread().isInterrupted()) {
        abort();
        throw new IllegalStateException("worker " + rank + ": " + what + " did not finish within " + timeoutMillis
            + " ms (or the task was killed): another worker has probably failed; the NCCL communicator is aborted");
      }
      java.util.concurrent.locks.LockSupport.parkNanos(20_000);
    }
  }

  private void abort() {
    if (!aborted) {
      aborted = true;
      ncclCommAbort(comm);
    }
  }

  private static void ncclCheck(int status, String call) {
    if (status != 0) {
      throw new IllegalStateException(call + " failed: " + ncclGetErrorString(status).getString()
          + " (NCCL status " + status + "); check that every rank uses the same unique id and world size, and that "
          + "the GPUs can reach each other (NCCL_DEBUG=INFO tells more)");
    }
  }

  private static void cudaCheck(int status, String call) {
    if (status != 0) {
      throw new IllegalStateException(call + " failed: " + cudaGetErrorString(status).getString() + " (CUDA error "
          + status + ")");
    }
  }

  @Override
  public void close() {
    if (staging != null) {
      cudaFree(staging);
      staging = null;
    }
    if (!aborted) {
      ncclCommDestroy(comm);
    }
    cudaStreamDestroy(stream);
  }
}
