package org.mosaicbert.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_ATTR_SCALES;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_RUNTIME_DIM_VAL;
import static org.bytedeco.dnnl.global.dnnl.dnnl_a;
import static org.bytedeco.dnnl.global.dnnl.dnnl_ab;
import static org.bytedeco.dnnl.global.dnnl.dnnl_ba;
import static org.bytedeco.dnnl.global.dnnl.dnnl_cpu;
import static org.bytedeco.dnnl.global.dnnl.dnnl_engine_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_engine_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_f32;
import static org.bytedeco.dnnl.global.dnnl.dnnl_matmul_primitive_desc_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_desc_create_with_tag;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_desc_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_attr_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_attr_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_attr_set_scales_mask;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_desc_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_desc_query;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_execute;
import static org.bytedeco.dnnl.global.dnnl.dnnl_query_impl_info_str;
import static org.bytedeco.dnnl.global.dnnl.dnnl_s8;
import static org.bytedeco.dnnl.global.dnnl.dnnl_stream_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_stream_default_flags;
import static org.bytedeco.dnnl.global.dnnl.dnnl_stream_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_stream_wait;
import static org.bytedeco.dnnl.global.dnnl.dnnl_success;
import static org.bytedeco.dnnl.global.dnnl.dnnl_u8;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.dnnl.dnnl_engine;
import org.bytedeco.dnnl.dnnl_exec_arg_t;
import org.bytedeco.dnnl.dnnl_memory;
import org.bytedeco.dnnl.dnnl_memory_desc;
import org.bytedeco.dnnl.dnnl_primitive;
import org.bytedeco.dnnl.dnnl_primitive_attr;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.bytedeco.dnnl.dnnl_stream;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.backend.ScoringWeight;
import org.mosaicbert.backend.View;
import org.slf4j.LoggerFactory;

/**
 * The int8 linear layers of {@link Precision#INT8} scoring: oneDNN's matmul multiplies unsigned 8-bit activations by
 * signed 8-bit weights, sums in int32 and writes float32 scaled by each output channel's weight scale straight into the
 * output; the per-row quantization before it and the per-row scaling after it (oneDNN's fast kernels take neither
 * per-row scales nor per-row zero points) are Java loops over rows.
 *
 * <p>Why activations get 7 bits: on x86 CPUs without VNNI (AVX2, and AVX-512 before Cascade Lake) oneDNN multiplies
 * bytes with vpmaddubsw, which adds two u8·s8 products in int16 and saturates above 32,767. With activations in
 * [0, 127] two products stay below it (2·127·127 = 32,258); with 8 bits they do not, and sums come out wrong. PyTorch's
 * x86 dynamic quantization makes the same choice (reduce_range).
 *
 * <p>oneDNN runs its own OpenMP threads; their number is set (through JNA, since JavaCPP does not map OpenMP) to the
 * backend's thread count before each multiplication, on the calling thread, as OpenMP keeps it per thread.
 */
final class Int8Gemm implements AutoCloseable {
  /** Largest quantized activation: 7 bits, see above. */
  static final int ACTIVATION_MAX = 127;
  static final int WEIGHT_MAX = 127;

  /** A weight quantized per output channel: q = round(w / scale) with scale = max |w| / 127. */
  static final class Weight implements ScoringWeight {
    final int in;
    final int outDim;
    /** [outDim, in] row-major: oneDNN's weights [in, outDim] in its layout ba. */
    final BytePointer values;
    final FloatPointer scales;
    /**
     * scale × Σ over in of each output channel's quantized weights: what a row's zero point z adds to that channel's
     * output, z times this, taken back out after the multiplication.
     */
    final float[] zeroPointTerms;
    final dnnl_memory memory;
    final dnnl_memory scalesMemory;

    private Weight(int in, int outDim, BytePointer values, FloatPointer scales, float[] zeroPointTerms,
        dnnl_memory memory, dnnl_memory scalesMemory) {
      this.in = in;
      this.outDim = outDim;
      this.values = values;
      this.scales = scales;
      this.zeroPointTerms = zeroPointTerms;
      this.memory = memory;
      this.scalesMemory = scalesMemory;
    }

    @Override
    public Precision precision() {
      return Precision.INT8;
    }

    @Override
    public int in() {
      return in;
    }

    @Override
    public int outDim() {
      return outDim;
    }
  }

  private final CpuBackend backend;
  private final dnnl_engine engine = new dnnl_engine();
  private final dnnl_stream stream = new dnnl_stream();
  /** One matmul per weight shape (in, outDim), the number of rows left to each call. */
  private final Map<Long, dnnl_primitive> matmuls = new HashMap<>();
  private final List<Weight> weights = new ArrayList<>();
  private final Function setThreads;
  private BytePointer activations = new BytePointer(1L);
  private float[] rowScales = new float[0];
  private int[] rowZeros = new int[0];

  Int8Gemm(CpuBackend backend) {
    this.backend = backend;
    String gomp;
    try {
      Loader.load(dnnl.class);
      gomp = Loader.cacheResource(dnnl.class, Loader.getPlatform() + "/libgomp.so.1").getPath();
    } catch (Throwable e) {
      throw new IllegalStateException("precision int8 needs oneDNN's native library, shipped for linux-x86_64 only; "
          + "it did not load on " + Loader.getPlatform() + " (" + e + "): score with precision fp32", e);
    }
    setThreads = NativeLibrary.getInstance(gomp).getFunction("omp_set_num_threads");
    check(dnnl_engine_create(engine, dnnl_cpu, 0), "dnnl_engine_create");
    check(dnnl_stream_create(stream, engine, dnnl_stream_default_flags), "dnnl_stream_create");
  }

  private static void check(int status, String call) {
    if (status != dnnl_success) {
      throw new IllegalStateException("oneDNN's " + call + " failed with status " + status);
    }
  }

  /** Quantizes the weight [outDim, in] at {@code weight} (a copy: later changes to the parameter are not seen). */
  Weight quantize(View weight, int in, int outDim) {
    FloatBuffer w = CpuBackend.fb(weight);
    int wo = (int) weight.offset();
    BytePointer values = new BytePointer((long) outDim * in);
    ByteBuffer q = values.asBuffer();
    float[] scales = new float[outDim];
    float[] zeroPointTerms = new float[outDim];
    backend.parallel(outDim, (from, to) -> {
      float[] row = new float[in];
      byte[] qRow = new byte[in];
      for (int n = from; n < to; n++) {
        w.get(wo + n * in, row, 0, in);
        float max = 0f;
        for (int k = 0; k < in; k++) {
          max = Math.max(max, Math.abs(row[k]));
        }
        float scale = max > 0f ? max / WEIGHT_MAX : 1f;
        int sum = 0;
        for (int k = 0; k < in; k++) {
          int v = Math.round(row[k] / scale);
          qRow[k] = (byte) v;
          sum += v;
        }
        q.put(n * in, qRow, 0, in);
        scales[n] = scale;
        zeroPointTerms[n] = scale * sum;
      }
    });
    FloatPointer scalesPointer = new FloatPointer(scales);
    Weight made = new Weight(in, outDim, values, scalesPointer, zeroPointTerms,
        memory(new long[] {in, outDim}, dnnl_s8, dnnl_ba, values), memory(new long[] {outDim}, dnnl_f32, dnnl_a,
        scalesPointer));
    weights.add(made);
    return made;
  }

  /** out[rows, outDim] = inp[rows, in] · weightᵀ (+ bias), the activations quantized per row. */
  void linear(View out, View inp, Weight weight, View bias, int rows) {
    int outDim = weight.outDim;
    quantizeRows(inp, rows, weight.in);
    multiply(weight, rows, out);
    FloatBuffer o = CpuBackend.fb(out);
    int oo = (int) out.offset();
    float[] biasRow = new float[outDim];
    if (bias != null) {
      CpuBackend.fb(bias).get((int) bias.offset(), biasRow, 0, outDim);
    }
    float[] zeroPointTerms = weight.zeroPointTerms;
    backend.parallel(rows, (from, to) -> {
      float[] row = new float[outDim];
      for (int r = from; r < to; r++) {
        o.get(oo + r * outDim, row, 0, outDim);
        float scale = rowScales[r];
        float zero = rowZeros[r];
        for (int n = 0; n < outDim; n++) {
          row[n] = scale * (row[n] - zero * zeroPointTerms[n]) + biasRow[n];
        }
        o.put(oo + r * outDim, row, 0, outDim);
      }
    });
  }

  /**
   * Each row to unsigned 7 bits: x ≈ scale·(q − zero), over the row's range widened to hold 0 (so that 0 stays exact),
   * q = round(x / scale) + zero in [0, 127].
   */
  private void quantizeRows(View inp, int rows, int in) {
    if (activations.capacity() < (long) rows * in) {
      activations.deallocate();
      activations = new BytePointer((long) rows * in);
    }
    if (rowScales.length < rows) {
      rowScales = new float[rows];
      rowZeros = new int[rows];
    }
    FloatBuffer x = CpuBackend.fb(inp);
    int xo = (int) inp.offset();
    ByteBuffer q = activations.asBuffer();
    backend.parallel(rows, (from, to) -> {
      float[] row = new float[in];
      byte[] qRow = new byte[in];
      for (int r = from; r < to; r++) {
        x.get(xo + r * in, row, 0, in);
        float min = 0f;
        float max = 0f;
        for (int k = 0; k < in; k++) {
          min = Math.min(min, row[k]);
          max = Math.max(max, row[k]);
        }
        float scale = max > min ? (max - min) / ACTIVATION_MAX : 1f;
        int zero = Math.round(-min / scale);
        float inverse = 1f / scale;
        for (int k = 0; k < in; k++) {
          // row[k]·inverse + zero + 0.5 ≥ 0 (the range holds row[k]), so the cast rounds to nearest.
          int v = (int) (row[k] * inverse + zero + 0.5f);
          qRow[k] = (byte) Math.min(ACTIVATION_MAX, Math.max(0, v));
        }
        q.put(r * in, qRow, 0, in);
        rowScales[r] = scale;
        rowZeros[r] = zero;
      }
    });
  }

  /** out[rows, outDim] = activations[rows, in] · weight, summed in int32, times each output channel's scale. */
  private void multiply(Weight weight, int rows, View out) {
    dnnl_primitive matmul = matmul(weight.in, weight.outDim);
    dnnl_memory src = memory(new long[] {rows, weight.in}, dnnl_u8, dnnl_ab, activations);
    // As a BytePointer: oneDNN takes a void*, to which JavaCPP adds the position in bytes.
    dnnl_memory dst = memory(new long[] {rows, weight.outDim}, dnnl_f32, dnnl_ab,
        CpuBackend.ptr(out).getPointer(BytePointer.class));
    try (dnnl_exec_arg_t args = new dnnl_exec_arg_t(4)) {
      args.position(0).arg(DNNL_ARG_SRC).memory(src);
      args.position(1).arg(DNNL_ARG_WEIGHTS).memory(weight.memory);
      args.position(2).arg(DNNL_ARG_DST).memory(dst);
      args.position(3).arg(DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS).memory(weight.scalesMemory);
      args.position(0);
      setThreads.invoke(new Object[] {backend.threads()});
      check(dnnl_primitive_execute(matmul, stream, 4, args), "dnnl_primitive_execute");
      check(dnnl_stream_wait(stream), "dnnl_stream_wait");
    } finally {
      dnnl_memory_destroy(src);
      dnnl_memory_destroy(dst);
    }
  }

  /** A oneDNN memory over {@code data}, of the given dims, type and layout. */
  private dnnl_memory memory(long[] dims, int type, int layout, Pointer data) {
    dnnl_memory_desc desc = new dnnl_memory_desc();
    check(dnnl_memory_desc_create_with_tag(desc, dims.length, dims, type, layout), "dnnl_memory_desc_create_with_tag");
    try {
      dnnl_memory memory = new dnnl_memory();
      check(dnnl_memory_create(memory, desc, engine, data), "dnnl_memory_create");
      return memory;
    } finally {
      dnnl_memory_desc_destroy(desc);
    }
  }

  /**
   * The matmul u8 [rows, in] · s8 [in, outDim] → f32 with a weight scale per output channel, for any number of rows,
   * made at its shape's first use.
   */
  private dnnl_primitive matmul(int in, int outDim) {
    return matmuls.computeIfAbsent(((long) in << 32) | outDim, key -> {
      long anyRows = DNNL_RUNTIME_DIM_VAL();
      dnnl_memory_desc src = new dnnl_memory_desc();
      dnnl_memory_desc weights = new dnnl_memory_desc();
      dnnl_memory_desc dst = new dnnl_memory_desc();
      dnnl_primitive_desc pd = new dnnl_primitive_desc();
      dnnl_primitive_attr attr = new dnnl_primitive_attr();
      try {
        check(dnnl_primitive_attr_create(attr), "dnnl_primitive_attr_create");
        check(dnnl_primitive_attr_set_scales_mask(attr, DNNL_ARG_WEIGHTS, 1 << 1),
            "dnnl_primitive_attr_set_scales_mask");
        check(dnnl_memory_desc_create_with_tag(src, 2, new long[] {anyRows, in}, dnnl_u8, dnnl_ab),
            "dnnl_memory_desc_create_with_tag");
        check(dnnl_memory_desc_create_with_tag(weights, 2, new long[] {in, outDim}, dnnl_s8, dnnl_ba),
            "dnnl_memory_desc_create_with_tag");
        check(dnnl_memory_desc_create_with_tag(dst, 2, new long[] {anyRows, outDim}, dnnl_f32, dnnl_ab),
            "dnnl_memory_desc_create_with_tag");
        check(dnnl_matmul_primitive_desc_create(pd, engine, src, weights, null, dst, attr),
            "dnnl_matmul_primitive_desc_create (u8 x s8 -> f32, scales per output channel)");
        PointerPointer<BytePointer> impl = new PointerPointer<>(1);
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl);
        LoggerFactory.getLogger(Int8Gemm.class).info("int8 GEMM {} x {}: oneDNN's {}", in, outDim,
            impl.getString(0));
        dnnl_primitive matmul = new dnnl_primitive();
        check(dnnl_primitive_create(matmul, pd), "dnnl_primitive_create");
        return matmul;
      } finally {
        dnnl_primitive_attr_destroy(attr);
        dnnl_primitive_desc_destroy(pd);
        dnnl_memory_desc_destroy(src);
        dnnl_memory_desc_destroy(weights);
        dnnl_memory_desc_destroy(dst);
      }
    });
  }

  @Override
  public void close() {
    matmuls.values().forEach(p -> dnnl_primitive_destroy(p));
    matmuls.clear();
    for (Weight w : weights) {
      dnnl_memory_destroy(w.memory);
      dnnl_memory_destroy(w.scalesMemory);
      w.values.deallocate();
      w.scales.deallocate();
    }
    weights.clear();
    activations.deallocate();
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
  }
}
