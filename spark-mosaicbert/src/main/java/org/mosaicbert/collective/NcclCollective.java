package org.mosaicbert.collective;

import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaEventCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventDisableTiming;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamWaitEvent;
import static org.bytedeco.cuda.global.cudart.cudaErrorNotReady;
import static org.bytedeco.cuda.global.cudart.cudaStreamQuery;
import static org.bytedeco.cuda.global.nccl.ncclAllReduce;
import static org.bytedeco.cuda.global.nccl.ncclCommAbort;
import static org.bytedeco.cuda.global.nccl.ncclCommGetAsyncError;
import static org.bytedeco.cuda.global.nccl.ncclCommDestroy;
import static org.bytedeco.cuda.global.nccl.NCCL_API_MAGIC;
import static org.bytedeco.cuda.global.nccl.NCCL_VERSION_CODE;
import static org.bytedeco.cuda.global.nccl.ncclCommInitRankConfig;
import static org.bytedeco.cuda.global.nccl.ncclFloat32;
import static org.bytedeco.cuda.global.nccl.ncclGetErrorString;
import static org.bytedeco.cuda.global.nccl.ncclGetUniqueId;
import static org.bytedeco.cuda.global.nccl.ncclInProgress;
import static org.bytedeco.cuda.global.nccl.ncclSuccess;
import static org.bytedeco.cuda.global.nccl.ncclSum;

import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclConfig_t;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.View;
import org.mosaicbert.backend.cuda.CudaBackend;

/**
 * NCCL collectives for GPU workers, through the JavaCPP CUDA presets.
 *
 * <p>NCCL with two or more ranks has not run on GPUs. It is written against the NCCL and CUDA runtime APIs of
 * {@code org.bytedeco:cuda:13.1-9.19-1.5.13} and kept off every CPU path (nothing loads the CUDA libraries unless
 * this class is used).
 *
 * <p>Rendezvous: rank 0 calls {@link #newUniqueId()} and shares the bytes with the other ranks (in Spark, through
 * {@code BarrierTaskContext.allGather}); every rank then constructs its collective with them. The device operations
 * take device pointers; the {@link Collective} methods on host arrays stage through one device buffer.
 *
 * <p>No operation waits forever: a blocked NCCL call or kernel is out of reach of Spark's task kill, so a rank whose
 * peer died (or never came) would hold its GPU until the executor went. The communicator is non-blocking: its
 * creation and each operation are polled against a deadline (the trainer's ring timeout) and NCCL's asynchronous
 * state ({@code ncclInProgress}: poll again); on the deadline or an error the communicator is aborted (which ends its
 * kernels) and the call throws.
 *
 * <p>Ordering: NCCL runs on a stream of its own, created non-blocking so that the legacy default stream (where the
 * CUDA backend launches) does not synchronise with it implicitly; an event on each side orders it, in both
 * directions: an operation starts after the kernels launched before it, and kernels launched after it start after it.
 */
public final class NcclCollective extends RankedCollective {
  private final long timeoutMillis;
  private boolean aborted;
  private final ncclComm comm = new ncclComm();
  private final CUstream_st stream = new CUstream_st();
  /** Recorded on the training stream before an operation, on NCCL's stream after it (see the class comment). */
  private final CUevent_st trainingReady = new CUevent_st();
  private final CUevent_st ncclDone = new CUevent_st();
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

  /**
   * Joins the communicator of {@code worldSize} ranks named by {@code uniqueId} on CUDA device {@code device}. Fails,
   * aborting what it began, when the other ranks have not all joined within {@code timeoutMillis}.
   */
  public NcclCollective(int rank, int worldSize, byte[] uniqueId, int device, long timeoutMillis) {
    super(rank, worldSize);
    this.timeoutMillis = timeoutMillis;
    cudaCheck(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
    cudaCheck(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    cudaCheck(cudaEventCreateWithFlags(trainingReady, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    cudaCheck(cudaEventCreateWithFlags(ncclDone, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    ncclUniqueId id = new ncclUniqueId();
    id.internal().put(uniqueId);
    String what = "ncclCommInitRankConfig(rank " + rank + " of " + worldSize + ")";
    try (ncclConfig_t config = nonBlockingConfig()) {
      enqueued(ncclCommInitRankConfig(comm, worldSize, id, rank, config), what);
      awaitNccl(what, System.nanoTime() + timeoutMillis * 1_000_000L);
    } catch (RuntimeException e) {
      if (!aborted && !comm.isNull()) {
        ncclCommAbort(comm); // a half-made communicator holds the GPU and its threads otherwise
      }
      aborted = true;
      close();
      throw e;
    }
  }

  /**
   * NCCL_CONFIG_INITIALIZER, which Java lacks, with {@code blocking = 0}: the size, magic and version of the
   * presets' header, every other field NCCL_CONFIG_UNDEF_INT or null, as the C macro leaves them (NCCL then applies
   * its defaults and the NCCL_* environment).
   */
  private static ncclConfig_t nonBlockingConfig() {
    int undefined = Integer.MIN_VALUE; // NCCL_CONFIG_UNDEF_INT
    ncclConfig_t config = new ncclConfig_t();
    config.size(org.bytedeco.javacpp.Loader.sizeof(ncclConfig_t.class)).magic(NCCL_API_MAGIC)
        .version(NCCL_VERSION_CODE).blocking(0).cgaClusterSize(undefined).minCTAs(undefined).maxCTAs(undefined)
        .netName(null).splitShare(undefined).trafficClass(undefined).commName(null).collnetEnable(undefined)
        .CTAPolicy(undefined).shrinkShare(undefined).nvlsCTAs(undefined).nChannelsPerNetPeer(undefined)
        .nvlinkCentricSched(undefined).graphUsageMode(undefined).numRmaCtx(undefined);
    return config;
  }

  /** In place on the device: buffer[0, count) ← Σ over ranks. */
  public void allReduceSum(Pointer deviceBuffer, long count) {
    afterTrainingKernels();
    enqueued(ncclAllReduce(deviceBuffer, deviceBuffer, count, ncclFloat32, ncclSum, comm, stream), "ncclAllReduce");
    await("ncclAllReduce of " + count + " floats");
  }

  /** NCCL's stream waits for everything launched on the training (legacy default) stream so far. */
  private void afterTrainingKernels() {
    cudaCheck(cudaEventRecord(trainingReady, (CUstream_st) null), "cudaEventRecord(training stream)");
    cudaCheck(cudaStreamWaitEvent(stream, trainingReady, 0), "cudaStreamWaitEvent(NCCL stream)");
  }

  /** A non-blocking communicator may answer ncclInProgress: the operation is still being enqueued. */
  private static void enqueued(int status, String call) {
    if (status != ncclInProgress) {
      ncclCheck(status, call);
    }
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

  /**
   * Waits until the operation is enqueued (NCCL's state leaves ncclInProgress) and NCCL's stream has run it, polling
   * the deadline; aborts the communicator on the deadline or an error. Then the training stream waits for it.
   */
  private void await(String what) {
    long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
    awaitNccl(what, deadline);
    cudaCheck(cudaEventRecord(ncclDone, stream), "cudaEventRecord(NCCL stream)");
    cudaCheck(cudaStreamWaitEvent((CUstream_st) null, ncclDone, 0), "cudaStreamWaitEvent(training stream)");
    while (true) {
      awaitNccl(what, deadline); // a peer's failure shows here while the kernel waits for it
      int query = cudaStreamQuery(stream);
      if (query == 0) {
        return;
      }
      if (query != cudaErrorNotReady) {
        cudaCheck(query, what);
      }
      checkDeadline(what, deadline);
      java.util.concurrent.locks.LockSupport.parkNanos(20_000);
    }
  }

  /** Polls NCCL's asynchronous state until it is not ncclInProgress; an error or the deadline aborts. */
  private void awaitNccl(String what, long deadline) {
    int[] state = new int[1];
    while (true) {
      ncclCheck(ncclCommGetAsyncError(comm, state), "ncclCommGetAsyncError");
      if (state[0] == ncclSuccess) {
        return;
      }
      if (state[0] != ncclInProgress) {
        abort();
        throw new IllegalStateException("worker " + rank + ": " + what + " failed: "
            + ncclGetErrorString(state[0]).getString() + " (NCCL status " + state[0] + ")");
      }
      checkDeadline(what, deadline);
      java.util.concurrent.locks.LockSupport.parkNanos(20_000);
    }
  }

  private void checkDeadline(String what, long deadline) {
    if (System.nanoTime() > deadline || Thread.currentThread().isInterrupted()) {
      abort();
      throw new IllegalStateException("worker " + rank + ": " + what + " did not finish within " + timeoutMillis
          + " ms (or the task was killed): another worker has probably failed or never joined; the NCCL "
          + "communicator is aborted");
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
    cudaEventDestroy(trainingReady);
    cudaEventDestroy(ncclDone);
    cudaStreamDestroy(stream);
  }
}
