package org.mosaicbert.backend.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.Pointer;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.LossSum;
import org.mosaicbert.backend.View;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link Backend} on one NVIDIA GPU (sm_80 or newer): the CUDA C kernels shipped as resources next to this class,
 * compiled at run time with NVRTC to a CUBIN for the device's architecture (cached per device), and bf16 GEMMs with
 * float32 accumulation through cuBLASLt (bias epilogue) and cublasGemmEx.
 *
 * <p>Every build also runs this class on an emulated {@link Device} that executes the same kernel files on the CPU,
 * with the same checks; only {@link CudaDevice} (NVRTC, cuBLAS, the driver) needs a GPU.
 *
 * <p>Memory: one arena of {@code arenaBytes}, allocated on the device in the constructor; {@link #allocate} and the
 * backend's own scratch carve from it, {@link #free} gives regions back to it (activations rebuilt larger), and
 * nothing is allocated on the device afterwards. A buffer of {@code floats}
 * floats takes 4 bytes per float whatever it holds, so that a {@link View}'s float offset is a byte offset times 4 in
 * every buffer. What a view holds depends on its buffer and on the method it is passed to:
 * <ul>
 *   <li>{@link BufferKind#PARAMETERS} buffers hold the float32 master weights and, beside them in the arena, a bf16
 *   compute copy (the {@code shadow}) that kernels and GEMMs read as weights; {@link #upload} and {@link #adamw} keep
 *   it in step;
 *   <li>{@link BufferKind#GRADIENTS} and {@link BufferKind#OPTIMIZER_STATE} buffers hold float32;
 *   <li>{@link BufferKind#ACTIVATIONS} buffers (activations, their gradients, scratch) hold bf16 tensors, packed 2
 *   bytes per element from the view's address, except the statistics the methods name as float32: LayerNorm's mean
 *   and rstd, and the attention state, which here is the logsumexp {@code [heads, nnz]} float32 (not P).
 * </ul>
 * {@link #upload} and {@link #download} convert float32 to and from bf16 for bf16 buffers;
 * {@link #downloadFloat32} reads a statistic as stored.
 *
 * <p>Host arrays (token ids, cu_seqlens, labels, dropout row keys, slopes) are copied into a staging region of the
 * arena per call. Everything runs on the legacy default stream, in order: a staging copy lands after the kernels
 * launched before it (CudaDevice queues it asynchronously from pinned memory), and downloads synchronise.
 *
 * <p>Attention: attention.cu's tensor-core kernels for head dimension 64 (every preset), attention_small.cu's per-row
 * kernels for 16 and 32 (the golden vectors' configuration); other head dimensions are refused.
 *
 * <p>Training: {@code device=gpu} fits run {@code DataParallelTrainer} on {@link #open} with {@code NcclCollective}
 * reducing the gradients in device memory.
 *
 * <p>Known gaps: dropout is fused into the residual LayerNorm ({@link #dropoutResidualLayerNorm})
 * but not into GeGLU (the MLP's dropout is a kernel of its own); a regression head's one output column is bf16 like
 * every activation, so its predictions and MSE gradient carry 8 mantissa bits (the CPU's are float32); hidden sizes
 * above 1024 are refused.
 */
public final class CudaBackend implements Backend {
  private static final Logger LOG = LoggerFactory.getLogger(CudaBackend.class);
  private static final long STAGING_BYTES = 64L << 20;
  /** Device slots of crossEntropy's sums ({sum, correct} as two doubles), reused in turn. */
  private static final int LOSS_SLOTS = 4096;
  /** Floats converted per round trip through the staging region in upload and download of bf16 tensors. */
  private static final int STAGING_CHUNK = 4 << 20;
  private static final int LN_BACKWARD_BLOCKS = 256;
  private static final int BIAS_CHUNKS_MAX = 64;
  private static final int SUM_OF_SQUARES_BLOCKS = 1024;

  /** How a buffer's floats are stored: the one thing this backend derives from a {@link BufferKind}. */
  private enum Storage {
    /** float32 master values and a bf16 compute copy (the shadow) beside them. */
    FLOAT32_WITH_BF16_COPY,
    FLOAT32,
    BF16
  }

  /** A region of the arena. */
  final class CudaBuffer implements Buffer {
    final long address;
    final long shadow;
    final long floats;
    final String name;
    final Storage storage;
    boolean freed;

    CudaBuffer(long address, long shadow, long floats, String name, Storage storage) {
      this.address = address;
      this.shadow = shadow;
      this.floats = floats;
      this.name = name;
      this.storage = storage;
    }

    @Override
    public long size() {
      return floats;
    }

    @Override
    public String name() {
      return name;
    }
  }

  private final Device device;
  private final Arena arena;
  private final long staging;
  private final long lossSlots;
  private long lossCalls;
  private boolean closed;

  /** The system property that sets the share of the device's free memory {@link #open} takes for its arena. */
  public static final String MEMORY_FRACTION_PROPERTY = "mosaicbert.cuda.memoryFraction";

  /**
   * Opens device {@code device} with an arena of a share of its free memory: {@value #MEMORY_FRACTION_PROPERTY}
   * (default 0.75, JAX's default; the rest is for NCCL's and cuBLAS's own buffers and the CUDA context) times
   * {@code taskShare}, the part of the GPU this task has (1 for a training worker, which owns its GPU; a scoring task
   * may share one). The arena is sized by the device rather than by a count of every buffer the model will carve.
   */
  public static CudaBackend open(int device, double taskShare) {
    double fraction = Double.parseDouble(System.getProperty(MEMORY_FRACTION_PROPERTY, "0.75"));
    if (!(fraction > 0 && fraction < 1)) {
      throw new IllegalArgumentException(MEMORY_FRACTION_PROPERTY + " = " + fraction + " is not in (0, 1)");
    }
    if (!(taskShare > 0 && taskShare <= 1)) {
      throw new IllegalArgumentException("a task's share of its GPU must be in (0, 1], not " + taskShare);
    }
    long bytes = (long) (CudaDevice.freeBytes(device) * fraction * taskShare) - STAGING_BYTES;
    LOG.info("CudaBackend on device {}: arena {} MiB ({} = {}, task share {})", device, bytes >> 20,
        MEMORY_FRACTION_PROPERTY, fraction, taskShare);
    return new CudaBackend(device, bytes);
  }

  /**
   * Opens CUDA device {@code device} (a CUDA ordinal: the barrier task's GPU address) with an arena of
   * {@code arenaBytes} (plus the staging region). Call only after {@link CudaProbe#available()}.
   */
  public CudaBackend(int device, long arenaBytes) {
    this(new CudaDevice(device), arenaBytes);
  }

  /** On any {@link Device} (the tests' emulated one runs the kernel files on the CPU), which it owns from here on. */
  CudaBackend(Device device, long arenaBytes) {
    this.device = device;
    long bytes = arenaBytes + STAGING_BYTES;
    try {
      this.arena = new Arena(device.allocateArena(bytes), bytes, "lower the micro-batch size or max_seq_len, or "
          + "raise " + MEMORY_FRACTION_PROPERTY);
    } catch (RuntimeException e) {
      device.close();
      throw e;
    }
    this.staging = carve(STAGING_BYTES);
    this.lossSlots = carve(16L * LOSS_SLOTS);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Memory
  // ------------------------------------------------------------------------------------------------------------

  /** The bytes of device memory left for new buffers: the arena's unused end. */
  public long unusedArenaBytes() {
    return arena.unused();
  }

  /** Bytes a parameter takes on the device: float32 and its bf16 copy (see {@link #allocate}). */
  public static final int PARAMETER_BYTES = 6;

  private long carve(long bytes) {
    return arena.carve(bytes);
  }

  @Override
  public Buffer allocate(BufferKind kind, long floats, String name) {
    Storage storage = switch (kind) {
      case PARAMETERS -> Storage.FLOAT32_WITH_BF16_COPY;
      case GRADIENTS, OPTIMIZER_STATE -> Storage.FLOAT32;
      case ACTIVATIONS -> Storage.BF16;
    };
    long address = carve(4 * floats);
    long shadow = storage == Storage.FLOAT32_WITH_BF16_COPY ? carve(2 * floats) : 0;
    return new CudaBuffer(address, shadow, floats, name, storage);
  }

  /** The buffer's region (and its bf16 copy's) goes back to the arena, which itself stays allocated. */
  @Override
  public void free(Buffer buffer) {
    CudaBuffer b = (CudaBuffer) buffer;
    if (b.freed) {
      throw new IllegalArgumentException("CudaBackend: buffer " + b.name + " is freed already");
    }
    b.freed = true;
    arena.release(b.address, 4 * b.floats);
    if (b.shadow != 0) {
      arena.release(b.shadow, 2 * b.floats);
    }
  }

  private static CudaBuffer buf(View v) {
    return (CudaBuffer) v.buffer();
  }

  /** The view as float32 (master weights, gradients, moments, statistics). */
  private static long f32(View v) {
    return v == null ? 0 : buf(v).address + 4 * v.offset();
  }

  /**
   * The device address of a float32 view (gradients, moments, master weights): what a collective such as NCCL
   * reduces in place.
   */
  public long float32Address(View v) {
    if (buf(v).storage == Storage.BF16) {
      throw new IllegalArgumentException("buffer " + buf(v).name + " holds bf16, not float32");
    }
    return f32(v);
  }

  /** The view as bf16: the compute copy of parameters, else the packed bf16 tensor at the view's address. */
  private static long bf16(View v) {
    if (v == null) {
      return 0;
    }
    CudaBuffer b = buf(v);
    if (b.storage == Storage.FLOAT32_WITH_BF16_COPY) {
      return b.shadow + 2 * v.offset();
    }
    if (b.storage == Storage.FLOAT32) {
      throw new IllegalArgumentException("buffer " + b.name + " holds float32, not bf16");
    }
    return b.address + 4 * v.offset();
  }

  /** Staging slots for host arrays of one call, carved front to back from the staging region. */
  private final class Staging {
    private long used;

    long put(int[] a) {
      long at = take(4L * a.length);
      device.write(at, a, a.length);
      return at;
    }

    long put(long[] a) {
      long at = take(8L * a.length);
      device.write(at, a, a.length);
      return at;
    }

    long put(float[] a, int offset, int n) {
      long at = take(4L * n);
      device.write(at, a, offset, n);
      return at;
    }

    long take(long bytes) {
      long at = (used + 15) / 16 * 16;
      if (at + bytes > STAGING_BYTES) {
        throw new IllegalStateException("CudaBackend: " + bytes + " bytes do not fit the staging region");
      }
      used = at + bytes;
      return staging + at;
    }
  }


  @Override
  public void upload(View dst, float[] src, int srcOffset, int n) {
    CudaBuffer b = buf(dst);
    if (b.storage == Storage.BF16) {
      for (int done = 0; done < n; done += STAGING_CHUNK) {
        int part = Math.min(STAGING_CHUNK, n - done);
        long at = new Staging().put(src, srcOffset + done, part);
        launch("cast_f32_to_bf16", grid(part), 1, 1, 256, 0, ptrArg(bf16(dst.at(done))), ptrArg(at), (long) part);
      }
      return;
    }
    device.write(f32(dst), src, srcOffset, n);
    refreshShadow(dst, n);
  }

  @Override
  public void download(float[] dst, int dstOffset, View src, int n) {
    if (buf(src).storage == Storage.BF16) {
      for (int done = 0; done < n; done += STAGING_CHUNK) {
        int part = Math.min(STAGING_CHUNK, n - done);
        long at = new Staging().take(4L * part);
        launch("cast_bf16_to_f32", grid(part), 1, 1, 256, 0, ptrArg(at), ptrArg(bf16(src.at(done))), (long) part);
        device.read(at, dst, dstOffset + done, part);
      }
    } else {
      device.read(f32(src), dst, dstOffset, n);
    }
  }

  /** Reads n float32 values as stored (LayerNorm mean/rstd, attention logsumexp), whatever the buffer's storage. */
  public void downloadFloat32(float[] dst, int dstOffset, View src, int n) {
    device.read(f32(src), dst, dstOffset, n);
  }

  @Override
  public void zero(View x, long n) {
    CudaBuffer b = buf(x);
    device.zero(f32(x), 4 * n);
    if (b.storage == Storage.FLOAT32_WITH_BF16_COPY) {
      device.zero(bf16(x), 2 * n);
    }
  }

  @Override
  public void copy(View dst, View src, long n) {
    Storage d = buf(dst).storage;
    Storage s = buf(src).storage;
    if (d == Storage.BF16 && s == Storage.BF16) {
      device.copy(bf16(dst), bf16(src), 2 * n);
    } else if (d == Storage.BF16) {
      launch("cast_f32_to_bf16", grid(n), 1, 1, 256, 0, ptrArg(bf16(dst)), ptrArg(f32(src)), n);
    } else if (s == Storage.BF16) {
      launch("cast_bf16_to_f32", grid(n), 1, 1, 256, 0, ptrArg(f32(dst)), ptrArg(bf16(src)), n);
      refreshShadow(dst, n);
    } else {
      device.copy(f32(dst), f32(src), 4 * n);
      refreshShadow(dst, n);
    }
  }

  /** After a float32 write into a parameters buffer: its bf16 compute copy follows. */
  private void refreshShadow(View x, long n) {
    if (buf(x).storage == Storage.FLOAT32_WITH_BF16_COPY) {
      launch("cast_f32_to_bf16", grid(n), 1, 1, 256, 0, ptrArg(bf16(x)), ptrArg(f32(x)), n);
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // GEMMs (the device's: cuBLAS on a GPU)
  // ------------------------------------------------------------------------------------------------------------

  @Override
  public void linear(View out, View inp, View weight, View bias, int rows, int in, int outDim) {
    // A bias under 16-byte alignment (a vocabulary that is not a multiple of 8 shifts the pooler and classifier
    // behind the MLM decoder's bias) is added by a kernel: cuBLASLt's epilogue faults on it.
    boolean aligned = bf16(bias) % 16 == 0;
    device.linear(bf16(out), bf16(inp), bf16(weight), aligned ? bf16(bias) : 0, rows, in, outDim);
    if (!aligned && rows > 0) {
      launch("add_bias_rows", grid((long) rows * outDim), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(bias)),
          (long) rows, outDim);
    }
  }

  @Override
  public void linearBackward(View dinp, boolean accumulate, View dweight, View dbias, View dout, View inp,
      View weight, int rows, int in, int outDim) {
    if (rows == 0) {
      return;
    }
    device.linearWeightGradient(f32(dweight), bf16(dout), bf16(inp), rows, in, outDim);
    if (dinp != null) {
      device.linearInputGradient(bf16(dinp), bf16(dout), bf16(weight), rows, in, outDim, accumulate);
    }
    if (dbias != null) {
      int chunks = Math.max(1, Math.min((rows + 255) / 256, BIAS_CHUNKS_MAX));
      long partials = new Staging().take(4L * chunks * outDim);
      launch("bias_grad_partials", (outDim + 63) / 64, chunks, 1, 256, 0, ptrArg(partials), ptrArg(bf16(dout)), rows,
          outDim);
      launch("sum_partials", (outDim + 255) / 256, 1, 1, 256, 0, ptrArg(f32(dbias)), ptrArg(partials), chunks,
          outDim);
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Kernels
  // ------------------------------------------------------------------------------------------------------------

  @Override
  public void embedding(View out, int[] ids, int[] typeIds, View word, View type, int n, int hidden) {
    Staging s = new Staging();
    long dIds = s.put(Arrays.copyOf(ids, n));
    long dTypes = s.put(Arrays.copyOf(typeIds, n));
    launch("embedding_forward", grid((long) n * hidden / 8), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(dIds),
        ptrArg(dTypes), ptrArg(bf16(word)), ptrArg(bf16(type)), n, hidden);
  }

  @Override
  public void embeddingBackward(View dword, View dtype, View dout, int[] ids, int[] typeIds, int n, int hidden,
      int padId) {
    scatterSegments(dword, dout, ids, n, hidden, padId);
    scatterSegments(dtype, dout, typeIds, n, hidden, -1);
  }

  /** embedding.cu's deterministic segmented scatter-add of dout rows into table rows ids[i] (pad id left out). */
  private void scatterSegments(View dtable, View dout, int[] ids, int n, int hidden, int padId) {
    Integer[] order = new Integer[n];
    int kept = 0;
    for (int i = 0; i < n; i++) {
      if (ids[i] != padId) {
        order[kept++] = i;
      }
    }
    Integer[] rowsSorted = Arrays.copyOf(order, kept);
    Arrays.sort(rowsSorted, (x, y) -> ids[x] != ids[y] ? Integer.compare(ids[x], ids[y]) : Integer.compare(x, y));
    int[] rows = new int[kept];
    List<Integer> segBegin = new ArrayList<>();
    List<Integer> segId = new ArrayList<>();
    List<Integer> segSlot = new ArrayList<>();
    List<Integer> groupId = new ArrayList<>();
    List<Integer> groupSlot = new ArrayList<>();
    int slots = 0;
    int i = 0;
    while (i < kept) {
      int id = ids[rowsSorted[i]];
      int end = i;
      while (end < kept && ids[rowsSorted[end]] == id) {
        end++;
      }
      int segments = (end - i + 31) / 32;
      if (segments > 1) {
        groupId.add(id);
        groupSlot.add(slots);
      }
      for (int k = 0; k < segments; k++) {
        segBegin.add(i + 32 * k);
        segId.add(id);
        segSlot.add(segments > 1 ? slots++ : -1);
      }
      for (int k = i; k < end; k++) {
        rows[k] = rowsSorted[k];
      }
      i = end;
    }
    segBegin.add(kept);
    groupSlot.add(slots);
    int numSegments = segId.size();
    if (numSegments == 0) {
      return;
    }
    Staging s = new Staging();
    long dRows = s.put(rows);
    long dBegin = s.put(toInts(segBegin));
    long dSegId = s.put(toInts(segId));
    long dSegSlot = s.put(toInts(segSlot));
    long dGroupId = s.put(toInts(groupId));
    long dGroupSlot = s.put(toInts(groupSlot));
    long partials = s.take(4L * Math.max(1, slots) * hidden);
    launch("embedding_backward_segments", numSegments, 1, 1, 128, 0, ptrArg(f32(dtable)), ptrArg(partials),
        ptrArg(bf16(dout)), ptrArg(dRows), ptrArg(dBegin), ptrArg(dSegId), ptrArg(dSegSlot), numSegments, hidden,
        padId);
    if (!groupId.isEmpty()) {
      launch("embedding_backward_combine", groupId.size(), 1, 1, 128, 0, ptrArg(f32(dtable)), ptrArg(partials),
          ptrArg(dGroupId), ptrArg(dGroupSlot), groupId.size(), hidden, padId);
    }
  }

  private static int[] toInts(List<Integer> list) {
    return list.stream().mapToInt(Integer::intValue).toArray();
  }

  @Override
  public void add(View out, View a, View b, long n) {
    launch("add_bf16", grid(n), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(a)), ptrArg(bf16(b)), n);
  }

  @Override
  public void layerNorm(View out, View mean, View rstd, View inp, View w, View b, int n, int hidden, float eps) {
    checkLayerNormWidth(hidden);
    if (n == 0) {
      return; // a micro-batch with no masked token reaches the MLM head's LayerNorm with no rows
    }
    launch("layernorm_forward", (n + 7) / 8, 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(0), ptrArg(f32(mean)),
        ptrArg(f32(rstd)), ptrArg(bf16(inp)), ptrArg(0), ptrArg(bf16(w)), ptrArg(bf16(b)), n, hidden, eps, 0f,
        ptrArg(0), 0L);
  }

  @Override
  public void layerNormBackward(View dinp, View dw, View db, View dout, View inp, View w, View mean, View rstd, int n,
      int hidden) {
    checkLayerNormWidth(hidden);
    // Four rows per block and pass (a warp each): no more blocks than rows need, at most 256 (the H200 twice over).
    int blocks = Math.max(1, Math.min(LN_BACKWARD_BLOCKS, (n + 3) / 4));
    long partials = new Staging().take(4L * blocks * 2 * hidden);
    launch("layernorm_backward", blocks, 1, 1, 128, 32 * hidden, ptrArg(bf16(dinp)), ptrArg(0),
        ptrArg(partials), ptrArg(bf16(dout)), ptrArg(bf16(inp)), ptrArg(bf16(w)), ptrArg(f32(mean)),
        ptrArg(f32(rstd)), n, hidden, 0f, ptrArg(0), 0L);
    launch("layernorm_param_grads", (hidden + 255) / 256, 1, 1, 256, 0, ptrArg(f32(dw)), ptrArg(f32(db)),
        ptrArg(partials), blocks, hidden);
  }

  /** One pass of layernorm_forward: the branch's dropout, the residual and the LayerNorm (see layernorm.cu). */
  @Override
  public void dropoutResidualLayerNorm(View out, View mean, View rstd, View x, View residual, View w, View b, int n,
      int hidden, float eps, float p, long[] rowKeys, long site) {
    checkLayerNormWidth(hidden);
    if (n == 0) {
      return;
    }
    long keys = p > 0 ? new Staging().put(Arrays.copyOf(rowKeys, n)) : 0;
    launch("layernorm_forward", (n + 7) / 8, 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(x)), ptrArg(f32(mean)),
        ptrArg(f32(rstd)), ptrArg(bf16(x)), ptrArg(bf16(residual)), ptrArg(bf16(w)), ptrArg(bf16(b)), n, hidden, eps,
        p, ptrArg(keys), site);
  }

  /** One pass of layernorm_backward writes both gradients, the residual's and the branch's (see layernorm.cu). */
  @Override
  public void dropoutResidualLayerNormBackward(View dResidual, View dBranch, View dw, View db, View dout, View x,
      View w, View mean, View rstd, int n, int hidden, float p, long[] rowKeys, long site) {
    checkLayerNormWidth(hidden);
    int blocks = Math.max(1, Math.min(LN_BACKWARD_BLOCKS, (n + 3) / 4));
    Staging staging = new Staging(); // one for the call: a second would carve the same bytes again
    long keys = p > 0 && n > 0 ? staging.put(Arrays.copyOf(rowKeys, n)) : 0;
    long partials = staging.take(4L * blocks * 2 * hidden);
    launch("layernorm_backward", blocks, 1, 1, 128, 32 * hidden, ptrArg(bf16(dResidual)), ptrArg(bf16(dBranch)),
        ptrArg(partials), ptrArg(bf16(dout)), ptrArg(bf16(x)), ptrArg(bf16(w)), ptrArg(f32(mean)),
        ptrArg(f32(rstd)), n, hidden, p, ptrArg(keys), site);
    launch("layernorm_param_grads", (hidden + 255) / 256, 1, 1, 256, 0, ptrArg(f32(dw)), ptrArg(f32(db)),
        ptrArg(partials), blocks, hidden);
  }

  /** layernorm.cu keeps a row in registers, 4 chunks of 256 columns at most, in multiples of 8 (every preset). */
  private static void checkLayerNormWidth(int hidden) {
    if (hidden > 1024 || hidden % 8 != 0) {
      throw new IllegalArgumentException("CudaBackend: LayerNorm takes hidden sizes up to 1024 in multiples of 8, not "
          + hidden + "; train this configuration on the CPU");
    }
  }

  /** elementwise.cu's GeGLU kernels move 8 bf16 at a time. */
  private static void checkGegluWidth(int intermediate) {
    if (intermediate % 8 != 0) {
      throw new IllegalArgumentException("CudaBackend: GeGLU takes intermediate sizes in multiples of 8, not "
          + intermediate + "; train this configuration on the CPU");
    }
  }

  @Override
  public void dropout(View x, int rows, int width, float p, long[] rowKeys, long site) {
    if (!(p > 0) || rows == 0) {
      return;
    }
    long keys = new Staging().put(Arrays.copyOf(rowKeys, rows));
    launch("dropout_forward", grid((long) rows * ((width + 7) / 8)), 1, 1, 256, 0, ptrArg(bf16(x)), rows, width, p,
        ptrArg(keys), site);
  }

  @Override
  public void geglu(View out, View g, int n, int intermediate) {
    checkGegluWidth(intermediate);
    launch("geglu_forward", grid((long) n * intermediate / 8), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(g)), n,
        intermediate);
  }

  @Override
  public void gegluBackward(View dg, View dout, View g, int n, int intermediate) {
    checkGegluWidth(intermediate);
    launch("geglu_backward", grid((long) n * intermediate / 8), 1, 1, 256, 0, ptrArg(bf16(dg)), ptrArg(bf16(dout)),
        ptrArg(bf16(g)), n, intermediate);
  }

  @Override
  public void gelu(View out, View inp, long n) {
    launch("gelu_forward", grid(n), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(inp)), n);
  }

  @Override
  public void geluBackward(View dinp, View dout, View inp, long n) {
    launch("gelu_backward", grid(n), 1, 1, 256, 0, ptrArg(bf16(dinp)), ptrArg(bf16(dout)), ptrArg(bf16(inp)), n);
  }

  @Override
  public void tanh(View out, View inp, long n) {
    launch("tanh_forward", grid(n), 1, 1, 256, 0, ptrArg(bf16(out)), ptrArg(bf16(inp)), n);
  }

  @Override
  public void tanhBackward(View dinp, View dout, View out, long n) {
    launch("tanh_backward", grid(n), 1, 1, 256, 0, ptrArg(bf16(dinp)), ptrArg(bf16(dout)), ptrArg(bf16(out)), n);
  }

  private static int maxSeqLen(int[] cuSeqlens, int numSeqs) {
    int longest = 1;
    for (int b = 0; b < numSeqs; b++) {
      longest = Math.max(longest, cuSeqlens[b + 1] - cuSeqlens[b]);
    }
    return longest;
  }

  /** attention.cu's tensor-core kernels take head dimension 64; attention_small.cu's per-row kernels 16 and 32. */
  private static boolean smallHeads(int headDim) {
    if (headDim == 64) {
      return false;
    }
    if (headDim == 16 || headDim == 32) {
      return true;
    }
    throw new IllegalArgumentException("CudaBackend: attention takes head dimension 16, 32 or 64 (hidden size / "
        + "heads), not " + headDim + "; choose numAttentionHeads to match, or train on the CPU");
  }

  /** FlashAttention keeps no P: a float32 logsumexp per head and row. */
  @Override
  public long attentionStateFloats(int heads, int seqLen) {
    return (long) heads * seqLen;
  }

  /** The state is the float32 logsumexp {@code [heads, nnz]}. */
  @Override
  public void attention(View ctx, View lse, View qkv, int[] cuSeqlens, int numSeqs, int heads, int headDim,
      float[] slopes) {
    boolean small = smallHeads(headDim);
    int nnz = cuSeqlens[numSeqs];
    if (nnz == 0) {
      return;
    }
    Staging s = new Staging();
    long dCu = s.put(Arrays.copyOf(cuSeqlens, numSeqs + 1));
    long dSlopes = s.put(slopes, 0, heads);
    if (small) {
      launch("attention_small_forward_d" + headDim, (nnz + 127) / 128, heads, 1, 128, 0, ptrArg(bf16(ctx)),
          ptrArg(f32(lse)), ptrArg(bf16(qkv)), ptrArg(dCu), ptrArg(dSlopes), heads, nnz, numSeqs);
      return;
    }
    launch("attention_forward", (maxSeqLen(cuSeqlens, numSeqs) + 63) / 64, numSeqs, heads, 128, 0,
        ptrArg(bf16(ctx)), ptrArg(f32(lse)), ptrArg(bf16(qkv)), ptrArg(dCu), ptrArg(dSlopes), heads, nnz);
  }

  @Override
  public void attentionBackward(View dqkv, View dctx, View ctx, View lse, View qkv, int[] cuSeqlens, int numSeqs,
      int heads, int headDim, float[] slopes) {
    boolean small = smallHeads(headDim);
    int nnz = cuSeqlens[numSeqs];
    if (nnz == 0) {
      return;
    }
    Staging s = new Staging();
    long dCu = s.put(Arrays.copyOf(cuSeqlens, numSeqs + 1));
    long dSlopes = s.put(slopes, 0, heads);
    long dsum = s.take(4L * heads * nnz);
    if (small) {
      int blocks = (nnz + 127) / 128;
      launch("attention_small_backward_dq_d" + headDim, blocks, heads, 1, 128, 0, ptrArg(bf16(dqkv)), ptrArg(dsum),
          ptrArg(bf16(dctx)), ptrArg(bf16(ctx)), ptrArg(bf16(qkv)), ptrArg(f32(lse)), ptrArg(dCu), ptrArg(dSlopes),
          heads, nnz, numSeqs);
      launch("attention_small_backward_dkdv_d" + headDim, blocks, heads, 1, 128, 0, ptrArg(bf16(dqkv)),
          ptrArg(bf16(dctx)), ptrArg(bf16(qkv)), ptrArg(f32(lse)), ptrArg(dsum), ptrArg(dCu), ptrArg(dSlopes), heads,
          nnz, numSeqs);
      return;
    }
    launch("attention_backward_dot", (int) ((nnz * (long) heads + 31) / 32), 1, 1, 256, 0, ptrArg(dsum),
        ptrArg(bf16(dctx)), ptrArg(bf16(ctx)), heads, nnz);
    int tiles = (maxSeqLen(cuSeqlens, numSeqs) + 63) / 64;
    launch("attention_backward_dkdv", tiles, numSeqs, heads, 128, 0, ptrArg(bf16(dqkv)), ptrArg(bf16(dctx)),
        ptrArg(bf16(qkv)), ptrArg(f32(lse)), ptrArg(dsum), ptrArg(dCu), ptrArg(dSlopes), heads, nnz);
    launch("attention_backward_dq", tiles, numSeqs, heads, 128, 0, ptrArg(bf16(dqkv)), ptrArg(bf16(dctx)),
        ptrArg(bf16(qkv)), ptrArg(f32(lse)), ptrArg(dsum), ptrArg(dCu), ptrArg(dSlopes), heads, nnz);
  }

  @Override
  public void gatherRows(View out, View inp, int[] rows, int width) {
    if (rows.length == 0) {
      return;
    }
    long dRows = new Staging().put(rows);
    launch("gather_rows", Math.max(1, (width / 8 + 255) / 256), Math.min(rows.length, 65535), 1, 256, 0,
        ptrArg(bf16(out)), ptrArg(bf16(inp)), ptrArg(dRows), rows.length, width);
  }

  @Override
  public void scatterAddRows(View out, View inp, int[] rows, int width) {
    if (rows.length == 0) {
      return;
    }
    if (Arrays.stream(rows).distinct().count() != rows.length) {
      throw new IllegalArgumentException("CudaBackend.scatterAddRows needs distinct rows");
    }
    long dRows = new Staging().put(rows);
    launch("scatter_add_rows", Math.max(1, (width / 8 + 255) / 256), Math.min(rows.length, 65535), 1, 256, 0,
        ptrArg(bf16(out)), ptrArg(bf16(inp)), ptrArg(dRows), rows.length, width);
  }

  /** The per-row losses and hits are summed on the device (loss.cu's loss_sum), read when the caller asks. */
  @Override
  public LossSum crossEntropy(View probs, View lse, View logits, int[] labels, int rows, int classes) {
    if (rows == 0) {
      return LossSum.of(0, 0);
    }
    if (bf16(probs) == bf16(logits)) {
      throw new IllegalArgumentException("CudaBackend.crossEntropy: probs must not alias logits, which the backward "
          + "pass reads");
    }
    Staging s = new Staging();
    long dLabels = s.put(Arrays.copyOf(labels, rows));
    long dLosses = s.take(4L * rows);
    long dHits = s.take(4L * rows);
    launch("cross_entropy_forward", rows, 1, 1, 256, 0, ptrArg(dLosses), ptrArg(dHits), ptrArg(f32(lse)), ptrArg(0),
        ptrArg(bf16(logits)), ptrArg(dLabels), rows, classes, 1f);
    launch("softmax_rows", rows, 1, 1, 256, 0, ptrArg(bf16(probs)), ptrArg(bf16(logits)), ptrArg(f32(lse)), rows,
        classes);
    // Summed on the device into a slot of its own, read when the caller asks: no wait per micro-batch.
    long call = lossCalls++;
    long slot = lossSlots + 16 * (call % LOSS_SLOTS);
    launch("loss_sum", 1, 1, 1, 256, 0, ptrArg(slot), ptrArg(dLosses), ptrArg(dHits), rows);
    return LossSum.deferred(() -> {
      if (lossCalls - call > LOSS_SLOTS) {
        throw new IllegalStateException("CudaBackend: a loss read after " + LOSS_SLOTS + " later crossEntropy calls "
            + "reused its slot; read each step's losses before the next step");
      }
      return readDoubles(slot, 2);
    });
  }

  /** {@code count} doubles from device memory (the device's own sums). */
  private double[] readDoubles(long address, int count) {
    int[] words = new int[2 * count];
    device.read(address, words, words.length);
    double[] out = new double[count];
    for (int i = 0; i < count; i++) {
      out[i] = Double.longBitsToDouble((words[2 * i + 1] & 0xffffffffL) << 32 | (words[2 * i] & 0xffffffffL));
    }
    return out;
  }

  /** Recomputes the softmax from the logits and lse (the bf16 probs are not read). */
  @Override
  public void crossEntropyBackward(View dlogits, View probs, View lse, View logits, int[] labels, int rows,
      int classes, float scale) {
    if (rows == 0) {
      return;
    }
    long dLabels = new Staging().put(Arrays.copyOf(labels, rows));
    launch("cross_entropy_backward", rows, 1, 1, 256, 0, ptrArg(bf16(dlogits)), ptrArg(bf16(logits)),
        ptrArg(f32(lse)), ptrArg(dLabels), rows, classes, scale);
  }

  @Override
  public void adamw(View params, View grads, View m, View v, long n, float lr, float beta1, float beta2, float eps,
      float decay, int step) {
    float stepSize = (float) (lr / (1 - Math.pow(beta1, step)));
    float sqrtBias2 = (float) Math.sqrt(1 - Math.pow(beta2, step));
    long shadow = buf(params).storage == Storage.FLOAT32_WITH_BF16_COPY ? bf16(params) : 0;
    launch("adamw_update", grid(n), 1, 1, 256, 0, ptrArg(f32(params)), ptrArg(shadow), ptrArg(f32(grads)),
        ptrArg(f32(m)), ptrArg(f32(v)), n, beta1, beta2, eps, decay, stepSize, sqrtBias2);
  }

  /** reduce.cu's two steps over float32 storage, with a grid fixed by n: the same bits on every GPU. */
  @Override
  public double sumOfSquares(View x, long n) {
    if (buf(x).storage == Storage.BF16) {
      throw new IllegalArgumentException("CudaBackend.sumOfSquares reads float32; buffer " + buf(x).name
          + " holds bf16");
    }
    if (n == 0) {
      return 0;
    }
    int blocks = (int) Math.min((n + 4095) / 4096, SUM_OF_SQUARES_BLOCKS);
    Staging s = new Staging();
    long partials = s.take(8L * blocks);
    long sum = s.take(8);
    launch("sum_of_squares_partials", blocks, 1, 1, 256, 0, ptrArg(partials), ptrArg(f32(x)), n);
    launch("sum_doubles", 1, 1, 1, 256, 0, ptrArg(sum), ptrArg(partials), blocks);
    return readDoubles(sum, 1)[0];
  }

  /** Waits for every launched kernel and reports an asynchronous error. */
  public void synchronize() {
    device.synchronize();
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      device.close();
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Launching
  // ------------------------------------------------------------------------------------------------------------

  private static Device.Ptr ptrArg(long address) {
    return new Device.Ptr(address);
  }

  /** Grid-stride grid for n work items of 256 threads, capped at 65535 blocks. */
  private static int grid(long n) {
    return (int) Math.max(1, Math.min((n + 255) / 256, 65535));
  }

  /** The device checks the arguments against the kernel's signature (count, types, ALIGN16 pointers). */
  private void launch(String name, int gx, int gy, int gz, int block, int sharedBytes, Object... args) {
    device.launch(name, gx, gy, gz, block, sharedBytes, args);
  }

  /**
   * A JavaCPP pointer to a device address (for cudaMemcpy, cuBLAS and NCCL). The parameter must not be called
   * {@code address}: inside the anonymous subclass that name is Pointer's own field, which then stays 0 (every
   * device pointer would be NULL).
   */
  public static Pointer ptr(long deviceAddress) {
    return new Pointer() {
      {
        address = deviceAddress;
      }
    };
  }
}
