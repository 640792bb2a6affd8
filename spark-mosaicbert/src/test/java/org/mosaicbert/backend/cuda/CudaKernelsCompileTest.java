package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The CPU-side check of the CUDA kernels: every {@code .cu} resource of the CUDA backend compiles with nvcc to a
 * CUBIN for Hopper (sm_90) and Ampere (sm_80), with the options NVRTC gets at run time, and no kernel spills registers
 * or uses a stack frame (local memory: as slow as a spill). Prints the ptxas figures of every kernel. Skipped, with a
 * message, where nvcc is not installed; nothing here runs a kernel.
 */
class CudaKernelsCompileTest {
  private static final String RESOURCES = "org/mosaicbert/backend/cuda/";
  private static final List<String> ARCHES = List.of("sm_90", "sm_80");
  /** The options the run-time NVRTC compile gets (common.cuh says the same); nvcc adds -cubin -arch -Xptxas -v. */
  private static final List<String> NVRTC_OPTIONS = List.of("-std=c++17");
  /** The only header a kernel file may include; the host hands it to NVRTC as a named header. */
  private static final String COMMON_HEADER = "common.cuh";
  private static final long NVCC_TIMEOUT_SECONDS = 180;

  private static final Pattern ENTRY = Pattern.compile("Compiling entry function '([^']+)' for '([^']+)'");
  private static final Pattern FRAME =
      Pattern.compile("(\\d+) bytes stack frame, (\\d+) bytes spill stores, (\\d+) bytes spill loads");
  private static final Pattern USED = Pattern.compile("Used (\\d+) registers");
  private static final Pattern SMEM = Pattern.compile("(\\d+) bytes smem");

  /** One kernel's ptxas figures for one architecture. */
  record KernelReport(String file, String kernel, String arch, int registers, int sharedBytes, int stackBytes,
      int spillStores, int spillLoads) {}

  /** One nvcc run. */
  record Compilation(Path source, String arch, int exitCode, String output) {}

  @Test
  void everyKernelCompilesForHopperAndAmpereWithoutSpills() throws Exception {
    Path nvcc = findNvcc();
    assumeTrue(nvcc != null, "nvcc is neither on the PATH nor in /usr/local/cuda/bin: the CUDA kernels were not "
        + "compiled. Install the CUDA toolkit (13.x) to run this check.");
    List<Path> sources = kernelSources();
    assertFalse(sources.isEmpty(), "no .cu resources under " + RESOURCES);

    long started = System.nanoTime();
    Path out = Files.createTempDirectory("mosaicbert-cubin");
    List<Compilation> compilations = new ArrayList<>();
    // Two at a time: the development and CI machines have two cores.
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<Compilation>> futures = new ArrayList<>();
      for (Path source : sources) {
        for (String arch : ARCHES) {
          futures.add(pool.submit(() -> compile(nvcc, source, arch, out)));
        }
      }
      for (Future<Compilation> f : futures) {
        compilations.add(f.get());
      }
    } finally {
      pool.shutdownNow();
      deleteRecursively(out);
    }
    double seconds = (System.nanoTime() - started) / 1e9;

    List<String> failures = new ArrayList<>();
    List<KernelReport> reports = new ArrayList<>();
    for (Compilation c : compilations) {
      String name = c.source().getFileName().toString();
      if (c.exitCode() != 0) {
        failures.add("nvcc failed (exit " + c.exitCode() + ") on " + name + " for " + c.arch() + ":\n" + c.output());
        continue;
      }
      List<KernelReport> parsed = parsePtxas(name, c.output());
      if (parsed.isEmpty()) {
        failures.add(name + " for " + c.arch() + ": ptxas reported no entry function (is every kernel extern \"C\" "
            + "__global__?):\n" + c.output());
      }
      for (KernelReport r : parsed) {
        if (r.spillStores() > 0 || r.spillLoads() > 0 || r.stackBytes() > 0) {
          failures.add(r.kernel() + " (" + name + ", " + r.arch() + ") spills: " + r.stackBytes() + " bytes stack frame, "
              + r.spillStores() + " bytes spill stores, " + r.spillLoads() + " bytes spill loads, at " + r.registers()
              + " registers. Lower its register pressure (smaller tiles, fewer values live) or its __launch_bounds__.");
        }
      }
      reports.addAll(parsed);
      if (c.output().toLowerCase().contains("warning")) {
        System.err.println("nvcc warnings for " + name + " (" + c.arch() + "):\n" + c.output());
      }
    }
    System.err.println(table(reports, seconds));
    if (!failures.isEmpty()) {
      fail(failures.size() + " problem(s) compiling the CUDA kernels:\n\n" + String.join("\n\n", failures));
    }
    // Both architectures must see the same kernels, file by file.
    Map<String, List<String>> byArch = new TreeMap<>();
    for (KernelReport r : reports) {
      byArch.computeIfAbsent(r.arch(), a -> new ArrayList<>()).add(r.file() + ":" + r.kernel());
    }
    byArch.values().forEach(list -> list.sort(Comparator.naturalOrder()));
    assertEquals(byArch.get(ARCHES.get(0)), byArch.get(ARCHES.get(1)), "entry points differ between architectures");
  }

  /**
   * What NVRTC needs of a source and nvcc would not catch: no header but common.cuh (NVRTC has no host headers, and
   * common.cuh reaches it as a named header), every kernel {@code extern "C"} (names not mangled, found by
   * cuModuleGetFunction), and no status note (a date, a "RAN ON" line): comments say what the code does and why, and
   * only a path that has not run on a GPU says so.
   */
  @Test
  void kernelSourcesIncludeOnlyTheCommonHeaderAndExportUnmangledEntryPoints() throws IOException, URISyntaxException {
    Pattern include = Pattern.compile("^\\s*#\\s*include\\s*([<\"][^>\"]+[>\"])", Pattern.MULTILINE);
    Pattern global = Pattern.compile("__global__");
    Pattern externGlobal = Pattern.compile("extern\\s+\"C\"\\s+__global__");
    Pattern statusNote = Pattern.compile("RAN ON|\\b20\\d\\d-\\d\\d-\\d\\d\\b");
    List<Path> files = new ArrayList<>(kernelSources());
    files.add(resourceDirectory().resolve(COMMON_HEADER));
    List<String> problems = new ArrayList<>();
    for (Path file : files) {
      String name = file.getFileName().toString();
      String text = Files.readString(file, StandardCharsets.UTF_8);
      Matcher m = include.matcher(text);
      while (m.find()) {
        if (!m.group(1).equals("\"" + COMMON_HEADER + "\"")) {
          problems.add(name + " includes " + m.group(1) + ": only \"" + COMMON_HEADER + "\" reaches NVRTC");
        }
      }
      long globals = global.matcher(text).results().count();
      long externs = externGlobal.matcher(text).results().count();
      if (globals != externs) {
        problems.add(name + ": " + (globals - externs) + " __global__ function(s) not declared extern \"C\"");
      }
      Matcher note = statusNote.matcher(text);
      if (note.find()) {
        problems.add(name + " carries a status note (\"" + note.group() + "\"): say what the code does and why; a "
            + "GPU run's dates and results belong in README.md");
      }
    }
    assertTrue(problems.isEmpty(), String.join("\n", problems));
  }

  private static Compilation compile(Path nvcc, Path source, String arch, Path outDir) throws Exception {
    String base = source.getFileName().toString().replace(".cu", "");
    List<String> command = new ArrayList<>(List.of(nvcc.toString(), "-cubin", "-arch=" + arch));
    command.addAll(NVRTC_OPTIONS);
    command.addAll(List.of("-Xptxas", "-v", "-I", source.getParent().toString(), "-o",
        outDir.resolve(base + "." + arch + ".cubin").toString(), source.toString()));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    byte[] output = process.getInputStream().readAllBytes();  // ptxas -v writes a few KiB; read it to the end
    if (!process.waitFor(NVCC_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      return new Compilation(source, arch, -1, "nvcc ran past " + NVCC_TIMEOUT_SECONDS + " s: " + command);
    }
    return new Compilation(source, arch, process.exitValue(),
        String.join(" ", command) + "\n" + new String(output, StandardCharsets.UTF_8));
  }

  /** ptxas -v output: "Compiling entry function 'k' for 'sm_90'", then its frame/spill line, then "Used N registers". */
  static List<KernelReport> parsePtxas(String file, String output) {
    List<KernelReport> reports = new ArrayList<>();
    String kernel = null;
    String arch = null;
    int[] frame = null;
    for (String line : output.split("\n")) {
      Matcher entry = ENTRY.matcher(line);
      if (entry.find()) {
        kernel = entry.group(1);
        arch = entry.group(2);
        frame = null;
        continue;
      }
      Matcher f = FRAME.matcher(line);
      if (f.find() && kernel != null) {
        frame = new int[] {Integer.parseInt(f.group(1)), Integer.parseInt(f.group(2)), Integer.parseInt(f.group(3))};
        continue;
      }
      Matcher used = USED.matcher(line);
      if (used.find() && kernel != null) {
        Matcher smem = SMEM.matcher(line);
        int shared = smem.find() ? Integer.parseInt(smem.group(1)) : 0;
        int[] fr = frame == null ? new int[3] : frame;
        reports.add(new KernelReport(file, kernel, arch, Integer.parseInt(used.group(1)), shared, fr[0], fr[1], fr[2]));
        kernel = null;
      }
    }
    return reports;
  }

  private static String table(List<KernelReport> reports, double seconds) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format("CUDA kernels compiled with nvcc in %.1f s (static shared memory only; dynamic is the "
        + "launcher's)%n", seconds));
    sb.append(String.format("%-15s %-28s %-6s %9s %10s %7s %12s%n", "file", "kernel", "arch", "registers",
        "smem bytes", "stack", "spill st/ld"));
    reports.stream()
        .sorted(Comparator.comparing(KernelReport::file).thenComparing(KernelReport::kernel)
            .thenComparing(KernelReport::arch))
        .forEach(r -> sb.append(String.format("%-15s %-28s %-6s %9d %10d %7d %12s%n", r.file(), r.kernel(), r.arch(),
            r.registers(), r.sharedBytes(), r.stackBytes(), r.spillStores() + "/" + r.spillLoads())));
    return sb.toString();
  }

  /** nvcc on the PATH, else the CUDA toolkit's default place; null when neither has it. */
  private static Path findNvcc() {
    return EmulatedDevice.executable("nvcc", Paths.get("/usr/local/cuda/bin/nvcc"));
  }

  /** The kernel sources as files: the module's resources are a directory on the test class path. */
  private static Path resourceDirectory() throws URISyntaxException {
    URL url = CudaKernelsCompileTest.class.getClassLoader().getResource(RESOURCES + COMMON_HEADER);
    assertTrue(url != null, RESOURCES + COMMON_HEADER + " is not on the class path");
    assertEquals("file", url.getProtocol(), "the kernel resources must be files for nvcc, found " + url);
    return Paths.get(url.toURI()).getParent();
  }

  private static List<Path> kernelSources() throws IOException, URISyntaxException {
    try (Stream<Path> files = Files.list(resourceDirectory())) {
      return files.filter(p -> p.getFileName().toString().endsWith(".cu")).sorted().collect(Collectors.toList());
    }
  }

  private static void deleteRecursively(Path dir) throws IOException {
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).collect(Collectors.toList())) {
        Files.deleteIfExists(p);
      }
    }
  }
}
