package org.mosaicbert.backend.cuda;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A {@link Device} that runs the CUDA backend's own kernel files on the CPU, so that CudaBackend and every kernel are
 * exercised on machines without a GPU: {@code host/device_server.cpp} (test resource) is compiled with g++ together
 * with the kernel files and the host stand-in for common.cuh ({@code host/common.cuh}: a block's threads as fibers
 * where they meet, barriers, warp shuffles, ldmatrix/mma.sync/cp.async modelled from the PTX ISA), and holds the
 * device memory; this class speaks to it over a pipe.
 *
 * <p>Every launch is checked against the kernel's signature ({@link KernelSignatures}) first, as CudaDevice's are.
 * What it does not check: NVIDIA's hardware, NVRTC, cuBLAS (its GEMMs are plain loops with cuBLAS's contract) and
 * {@link CudaDevice}, which only a GPU runs.
 */
final class EmulatedDevice implements Device {
  private static final String RESOURCES = "/org/mosaicbert/backend/cuda/";
  /** What makes a kernel file's threads meet: such files run one OS thread per CUDA thread. */
  private static final Pattern MEETING = Pattern.compile("__syncthreads|__syncwarp|__shfl|__shared__|DYNAMIC_SHARED");
  /** The server built from the real kernel files (others, with replaced sources, are built per test). */
  private static Path server;

  /** The signatures of the kernel files it was built from: every launch is checked against them first. */
  private final KernelSignatures signatures;
  private final Process process;
  /** The server's standard error (a kernel's fault, the sanitizer's report, the profile), shown when it matters. */
  private final Path stderr;
  private final OutputStream pipe;
  private final DataInputStream in;
  /** The command being written: sent whole in finish(), so a command that fails half-written never reaches it. */
  private final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();

  /** The g++ on the PATH, or null. */
  static Path compiler() {
    return executable("g++");
  }

  /** The first executable of that name on the PATH, then among the extra candidates; null when there is none. */
  static Path executable(String name, Path... extra) {
    List<Path> candidates = new ArrayList<>();
    for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
      if (!dir.isEmpty()) {
        candidates.add(Path.of(dir, name));
      }
    }
    candidates.addAll(List.of(extra));
    return candidates.stream().filter(Files::isExecutable).findFirst().orElse(null);
  }

  EmulatedDevice() {
    this(Map.of());
  }

  /**
   * A device whose kernel files are the real ones except those in {@code replacedSources} (file name, e.g.
   * "attention.cu", to its text): how a test shows that the emulator catches a broken kernel.
   */
  EmulatedDevice(Map<String, String> replacedSources) {
    Map<String, String> kernelFiles = Device.kernelFiles();
    for (String file : replacedSources.keySet()) {
      if (!kernelFiles.containsKey(file)) {
        throw new IllegalArgumentException("no kernel file " + file + " to replace; the files are "
            + kernelFiles.keySet());
      }
    }
    kernelFiles.putAll(replacedSources);
    signatures = KernelSignatures.of(kernelFiles);
    try {
      Path binary = replacedSources.isEmpty() ? build() : build(kernelFiles, signatures);
      stderr = Files.createTempFile("emulated-device", ".stderr");
      stderr.toFile().deleteOnExit();
      process = new ProcessBuilder(binary.toString()).redirectError(stderr.toFile()).start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    pipe = new BufferedOutputStream(process.getOutputStream(), 1 << 16);
    in = new DataInputStream(new BufferedInputStream(process.getInputStream(), 1 << 16));
  }

  // ------------------------------------------------------------------------------------------------------------
  // Building the server: once per set of sources (kept under target/ between runs)
  // ------------------------------------------------------------------------------------------------------------

  private static synchronized Path build() throws IOException {
    if (server == null) {
      Map<String, String> kernelFiles = Device.kernelFiles();
      server = build(kernelFiles, KernelSignatures.of(kernelFiles));
    }
    return server;
  }

  private static synchronized Path build(Map<String, String> kernelFiles, KernelSignatures signatures)
      throws IOException {
    Path gxx = compiler();
    if (gxx == null) {
      throw new IllegalStateException("g++ is not on the PATH: the emulated device cannot be built");
    }
    List<String> names = new ArrayList<>();
    List<String> texts = new ArrayList<>();
    for (Map.Entry<String, String> file : kernelFiles.entrySet()) {
      names.add("kernels/" + file.getKey());
      texts.add(file.getValue());
    }
    names.addAll(List.of("device/common.cuh", "shim/common.cuh", "device_server.cpp", "dispatch.inc"));
    texts.add(Device.resource("common.cuh"));
    texts.add(testResource("host/common.cuh"));
    texts.add(testResource("host/device_server.cpp"));
    texts.add(dispatchSource(kernelFiles, signatures));
    String key;
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      texts.forEach(t -> sha.update(t.getBytes(StandardCharsets.UTF_8)));
      key = HexFormat.of().formatHex(sha.digest()).substring(0, 16);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    // Kept between runs, keyed by the sources: under target/ in a Maven build, elsewhere when the property says so.
    Path dir = Path.of(System.getProperty("mosaicbert.emulator.dir", "target"), "emulated-device-" + key)
        .toAbsolutePath();
    Path binary = dir.resolve("device_server");
    if (!Files.isExecutable(binary)) {
      // Built in a folder of its own and moved into place whole: JVMs that build at once (a cluster's executors)
      // neither read each other's half-written sources nor move each other's binaries.
      Files.createDirectories(dir);
      Path build = Files.createTempDirectory(dir, "build-");
      for (int i = 0; i < names.size(); i++) {
        Path file = build.resolve(names.get(i));
        Files.createDirectories(file.getParent());
        Files.writeString(file, texts.get(i));
      }
      Path built = build.resolve("device_server");
      // -ffp-contract=off: plain multiplies and adds (NVRTC fuses some into FMAs by default: results differ by
      // rounding); -fno-strict-aliasing: the kernels read bf16 memory as uint4; -fcf-protection=none: the fibers'
      // context switch returns into a frame it built, which a CET shadow stack would refuse; -fsanitize=alignment:
      // a misaligned 16-byte vector access stops the server, as it faults on a GPU (x86 would forgive it).
      Process gcc = new ProcessBuilder(gxx.toString(), "-std=c++17", "-O2", "-ffp-contract=off",
          "-fno-strict-aliasing", "-fcf-protection=none", "-fsanitize=alignment", "-fno-sanitize-recover=alignment",
          "-w",
          "-I", build.resolve("shim").toString(), build.resolve("device_server.cpp").toString(), "-o",
          built.toString())
          .redirectErrorStream(true).start();
      String log = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      try {
        if (!gcc.waitFor(600, TimeUnit.SECONDS) || gcc.exitValue() != 0) {
          throw new IllegalStateException("g++ could not build the emulated device:\n" + log);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
      Files.move(built, binary, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
      try (var files = Files.walk(build)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
    return binary;
  }

  private static String testResource(String name) throws IOException {
    try (InputStream s = EmulatedDevice.class.getResourceAsStream(RESOURCES + name)) {
      if (s == null) {
        throw new IllegalStateException("missing test resource " + name);
      }
      return new String(s.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /**
   * dispatch.inc: includes every kernel file and calls each extern "C" kernel by name with its arguments cast to the
   * types of its signature (which {@link #launch} has checked them against).
   */
  static String dispatchSource(Map<String, String> kernelFiles, KernelSignatures signatures) {
    StringBuilder includes = new StringBuilder();
    StringBuilder cases = new StringBuilder();
    for (Map.Entry<String, String> file : kernelFiles.entrySet()) {
      includes.append("#include \"kernels/").append(file.getKey()).append("\"\n");
      boolean together = MEETING.matcher(file.getValue().replaceAll("//[^\n]*", "")).find();
      for (KernelSignatures.Kernel kernel : signatures.inFile(file.getKey())) {
        List<String> args = new ArrayList<>();
        for (KernelSignatures.Parameter p : kernel.parameters()) {
          String a = "a[" + p.index() + "]";
          args.add(switch (p.type()) {
            case POINTER -> "(" + p.cType() + ")" + a + ".p";
            case FLOAT -> a + ".f";
            case INT, LONG_LONG -> "(" + p.cType() + ")" + a + ".i";
          });
        }
        cases.append("  if (name == \"").append(kernel.name()).append("\") {\n")
            .append("    if (!host_run_grid(gx, gy, gz, block, shared, ")
            .append(together).append(", [=] { ").append(kernel.name()).append('(').append(String.join(", ", args))
            .append("); })) throw Failure{\"deadlock: threads wait at a barrier that the others never reach\"};\n")
            .append("    return true;\n  }\n");
      }
    }
    return includes + "\nstatic bool dispatch(const std::string& name, const Arg* a, unsigned gx, unsigned gy, "
        + "unsigned gz, unsigned block, unsigned shared) {\n" + cases + "  return false;\n}\n";
  }

  // ------------------------------------------------------------------------------------------------------------
  // The protocol (device_server.cpp's header describes it)
  // ------------------------------------------------------------------------------------------------------------

  private void u8(int v) throws IOException {
    out.write(v);
  }

  private void u16(int v) throws IOException {
    out.write(v);
    out.write(v >>> 8);
  }

  private void u32(int v) throws IOException {
    for (int s = 0; s < 32; s += 8) {
      out.write(v >>> s);
    }
  }

  private void u64(long v) throws IOException {
    for (int s = 0; s < 64; s += 8) {
      out.write((int) (v >>> s));
    }
  }

  /** Sends the command and waits for its status; then the reply's payload, if any, is next in {@code in}. */
  private void finish(String what) throws IOException {
    out.writeTo(pipe);
    out.reset();
    pipe.flush();
    int status;
    try {
      status = in.readUnsignedByte();
    } catch (EOFException e) {
      throw new IllegalStateException("the emulated device died during " + what + ": " + stderrTail());
    }
    if (status != 0) {
      byte[] message = new byte[Integer.reverseBytes(in.readInt())];
      in.readFully(message);
      throw new IllegalStateException("emulated device, " + what + ": " + new String(message, StandardCharsets.UTF_8));
    }
  }

  private interface Command {
    void run() throws IOException;
  }

  private synchronized void call(String what, Command command) {
    out.reset();
    try {
      command.run();
    } catch (IOException e) {
      throw new UncheckedIOException("emulated device, " + what, e);
    }
  }

  private void writeBytes(long address, ByteBuffer data) {
    call("write", () -> {
      u8(2);
      u64(address);
      u64(data.capacity());
      out.write(data.array(), 0, data.capacity());
      finish("write");
    });
  }

  private ByteBuffer readBytes(long address, long bytes) {
    ByteBuffer data = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
    call("read", () -> {
      u8(3);
      u64(address);
      u64(bytes);
      finish("read");
      in.readFully(data.array());
    });
    return data;
  }

  private static ByteBuffer buffer(long bytes) {
    return ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
  }

  @Override
  public String arch() {
    return "sm_90";
  }

  @Override
  public long allocateArena(long bytes) {
    long[] base = new long[1];
    call("alloc", () -> {
      u8(1);
      u64(bytes);
      finish("alloc");
      base[0] = Long.reverseBytes(in.readLong());
    });
    return base[0];
  }

  @Override
  public void write(long address, int[] src, int n) {
    ByteBuffer b = buffer(4L * n);
    b.asIntBuffer().put(src, 0, n);
    writeBytes(address, b);
  }

  @Override
  public void write(long address, long[] src, int n) {
    ByteBuffer b = buffer(8L * n);
    b.asLongBuffer().put(src, 0, n);
    writeBytes(address, b);
  }

  @Override
  public void write(long address, float[] src, int offset, int n) {
    ByteBuffer b = buffer(4L * n);
    b.asFloatBuffer().put(src, offset, n);
    writeBytes(address, b);
  }

  @Override
  public void read(long address, float[] dst, int offset, int n) {
    readBytes(address, 4L * n).asFloatBuffer().get(dst, offset, n);
  }

  @Override
  public void read(long address, int[] dst, int n) {
    readBytes(address, 4L * n).asIntBuffer().get(dst, 0, n);
  }

  @Override
  public void copy(long dst, long src, long bytes) {
    call("copy", () -> {
      u8(4);
      u64(dst);
      u64(src);
      u64(bytes);
      finish("copy");
    });
  }

  @Override
  public void zero(long address, long bytes) {
    call("zero", () -> {
      u8(5);
      u64(address);
      u64(bytes);
      finish("zero");
    });
  }

  @Override
  public void launch(String name, int gx, int gy, int gz, int block, int sharedBytes, Object... args) {
    signatures.check(name, args);
    call(name, () -> {
      u8(6);
      byte[] text = name.getBytes(StandardCharsets.US_ASCII);
      u16(text.length);
      out.write(text, 0, text.length);
      for (int v : new int[] {gx, gy, gz, block, sharedBytes}) {
        u32(v);
      }
      u32(args.length);
      for (Object arg : args) {
        if (arg instanceof Ptr p) {
          u8(0);
          u64(p.address());
        } else if (arg instanceof Integer x) {
          u8(1);
          u64(x);
        } else if (arg instanceof Long x) {
          u8(2);
          u64(x);
        } else if (arg instanceof Float x) {
          u8(3);
          u64(Float.floatToRawIntBits(x) & 0xffffffffL);
        } else {
          throw new IllegalStateException("KernelSignatures.check let through an argument of type " + arg.getClass());
        }
      }
      finish("kernel " + name);
    });
  }

  @Override
  public void linear(long outAddress, long inp, long weight, long bias, int rows, int inDim, int outDim) {
    if (bias % 16 != 0) {
      throw new IllegalArgumentException("Device.linear takes a 16-byte aligned bias (cuBLASLt's epilogue)");
    }
    call("linear", () -> {
      u8(7);
      u64(outAddress);
      u64(inp);
      u64(weight);
      u64(bias);
      u32(rows);
      u32(inDim);
      u32(outDim);
      finish("linear");
    });
  }

  @Override
  public void linearWeightGradient(long dweight, long dout, long inp, int rows, int inDim, int outDim) {
    call("linearWeightGradient", () -> {
      u8(8);
      u64(dweight);
      u64(dout);
      u64(inp);
      u32(rows);
      u32(inDim);
      u32(outDim);
      finish("linearWeightGradient");
    });
  }

  @Override
  public void linearInputGradient(long dinp, long dout, long weight, int rows, int inDim, int outDim,
      boolean accumulate) {
    call("linearInputGradient", () -> {
      u8(9);
      u64(dinp);
      u64(dout);
      u64(weight);
      u32(rows);
      u32(inDim);
      u32(outDim);
      u8(accumulate ? 1 : 0);
      finish("linearInputGradient");
    });
  }

  @Override
  public void synchronize() {}

  /** The end of the server's standard error: why it died (a device fault, the sanitizer, a crash). */
  private String stderrTail() {
    try {
      process.waitFor(10, TimeUnit.SECONDS);
      String text = Files.readString(stderr, StandardCharsets.UTF_8).strip();
      return text.isEmpty() ? "it printed nothing (exit status " + (process.isAlive() ? "unknown" : process.exitValue())
          + ")" : text.substring(Math.max(0, text.length() - 2000));
    } catch (IOException e) {
      return "its standard error is unreadable: " + e;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  @Override
  public void close() {
    try {
      pipe.close();
      process.waitFor(10, TimeUnit.SECONDS);
    } catch (IOException e) {
      // the process is gone already
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      process.destroy();
      try { // the profile (MOSAICBERT_EMULATOR_PROFILE) and any warnings, where the developer looks for them
        String text = Files.readString(stderr, StandardCharsets.UTF_8);
        if (!text.isBlank()) {
          System.err.print(text);
        }
        Files.deleteIfExists(stderr);
      } catch (IOException e) {
        // only diagnostics are lost
      }
    }
  }
}
