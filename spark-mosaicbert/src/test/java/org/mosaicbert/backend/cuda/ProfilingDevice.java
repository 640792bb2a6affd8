package org.mosaicbert.backend.cuda;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A {@link Device} that, while {@link #profiling} is on, synchronises around every launch and GEMM and adds up the
 * time of each, by kernel name or GEMM shape: where a step's time goes, for the GPU check's benchmark. The
 * synchronisations add a few microseconds to each call, so the table overstates short kernels; the step time is
 * measured with profiling off.
 */
final class ProfilingDevice implements Device {
  private final Device device;
  private final Map<String, double[]> seconds = new LinkedHashMap<>(); // name -> {seconds, calls, flops}
  boolean profiling;

  ProfilingDevice(Device device) {
    this.device = device;
  }

  private void timed(String name, double flops, Runnable call) {
    if (!profiling) {
      call.run();
      return;
    }
    device.synchronize();
    long t0 = System.nanoTime();
    call.run();
    device.synchronize();
    double[] entry = seconds.computeIfAbsent(name, k -> new double[3]);
    entry[0] += (System.nanoTime() - t0) / 1e9;
    entry[1]++;
    entry[2] += flops;
  }

  /** Prints the calls by time, largest first, with each GEMM's TFLOP/s; returns the total seconds. */
  double print(PrintStream out) {
    List<Map.Entry<String, double[]>> rows = new ArrayList<>(seconds.entrySet());
    rows.sort((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0]));
    double total = rows.stream().mapToDouble(e -> e.getValue()[0]).sum();
    out.printf(Locale.ROOT, "  %-58s %6s %9s %6s %8s%n", "call", "calls", "ms", "share", "TFLOP/s");
    for (Map.Entry<String, double[]> row : rows) {
      double[] v = row.getValue();
      out.printf(Locale.ROOT, "  %-58s %6d %9.3f %5.1f%% %8s%n", row.getKey(), (long) v[1], v[0] * 1e3,
          100 * v[0] / total, v[2] > 0 ? String.format(Locale.ROOT, "%.1f", v[2] / v[0] / 1e12) : "");
    }
    out.printf(Locale.ROOT, "  %-58s %6s %9.3f%n", "total (synchronised after each call)", "", total * 1e3);
    return total;
  }

  /** The FLOPs of the GEMMs timed. */
  double gemmFlops() {
    return seconds.values().stream().mapToDouble(v -> v[2]).sum();
  }

  /** The calls timed. */
  long calls() {
    return (long) seconds.values().stream().mapToDouble(v -> v[1]).sum();
  }

  @Override
  public String arch() {
    return device.arch();
  }

  @Override
  public long allocateArena(long bytes) {
    return device.allocateArena(bytes);
  }

  @Override
  public void write(long address, int[] src, int n) {
    timed("host-to-device copy", 0, () -> device.write(address, src, n));
  }

  @Override
  public void write(long address, long[] src, int n) {
    timed("host-to-device copy", 0, () -> device.write(address, src, n));
  }

  @Override
  public void write(long address, float[] src, int offset, int n) {
    timed("host-to-device copy", 0, () -> device.write(address, src, offset, n));
  }

  @Override
  public void read(long address, float[] dst, int offset, int n) {
    timed("device-to-host copy", 0, () -> device.read(address, dst, offset, n));
  }

  @Override
  public void read(long address, int[] dst, int n) {
    timed("device-to-host copy", 0, () -> device.read(address, dst, n));
  }

  @Override
  public void copy(long dst, long src, long bytes) {
    timed("device-to-device copy", 0, () -> device.copy(dst, src, bytes));
  }

  @Override
  public void zero(long address, long bytes) {
    timed("memset", 0, () -> device.zero(address, bytes));
  }

  @Override
  public void launch(String name, int gx, int gy, int gz, int block, int sharedBytes, Object... args) {
    timed(name, 0, () -> device.launch(name, gx, gy, gz, block, sharedBytes, args));
  }

  @Override
  public void linear(long out, long inp, long weight, long bias, int rows, int in, int outDim) {
    timed(gemmName("linear", rows, in, outDim), 2.0 * rows * in * outDim,
        () -> device.linear(out, inp, weight, bias, rows, in, outDim));
  }

  @Override
  public void linearWeightGradient(long dweight, long dout, long inp, int rows, int in, int outDim) {
    timed(gemmName("weight gradient", rows, in, outDim), 2.0 * rows * in * outDim,
        () -> device.linearWeightGradient(dweight, dout, inp, rows, in, outDim));
  }

  @Override
  public void linearInputGradient(long dinp, long dout, long weight, int rows, int in, int outDim,
      boolean accumulate) {
    timed(gemmName("input gradient", rows, in, outDim), 2.0 * rows * in * outDim,
        () -> device.linearInputGradient(dinp, dout, weight, rows, in, outDim, accumulate));
  }

  private static String gemmName(String what, int rows, int in, int outDim) {
    return "GEMM " + what + " " + rows + " rows, " + in + " -> " + outDim;
  }

  @Override
  public void synchronize() {
    device.synchronize();
  }

  @Override
  public void close() {
    device.close();
  }
}
