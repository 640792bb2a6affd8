package org.mosaicbert.backend.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The kernel files compiled at run time with NVRTC, each a program of its own with common.cuh as a named header, to
 * a CUBIN for one architecture; kept in a cache directory, keyed by the source, the header, the options and NVRTC's
 * version, so that a task on a warm node loads them instead.
 */
final class NvrtcCompiler {
  private static final Logger LOG = LoggerFactory.getLogger(NvrtcCompiler.class);
  private static final String HEADER = "common.cuh";

  private final String arch;
  private final String header = Device.resource(HEADER);

  /** @param arch the device's architecture, sm_XX */
  NvrtcCompiler(String arch) {
    this.arch = arch;
  }

  /** The options every kernel file is compiled with (common.cuh's header says why there is no fast math). */
  static String[] options(String arch) {
    return new String[] {"-std=c++17", "--gpu-architecture=" + arch};
  }

  /** -Dmosaicbert.cuda.cache, else a directory of the user's under java.io.tmpdir. */
  static Path cacheDir() {
    String configured = System.getProperty("mosaicbert.cuda.cache");
    return configured != null ? Path.of(configured)
        : Path.of(System.getProperty("java.io.tmpdir"), "mosaicbert-cuda-" + System.getProperty("user.name"));
  }

  /** The CUBIN of kernel file {@code file} ("adamw.cu" ...) with text {@code code}: from the cache, else compiled. */
  byte[] cubin(String file, String code) {
    String source = file.replaceFirst("\\.cu$", "");
    Path cached = cacheDir().resolve(source + "-" + arch + "-" + cacheKey(code) + ".cubin");
    try {
      if (Files.isRegularFile(cached)) {
        return Files.readAllBytes(cached);
      }
      byte[] cubin = compile(file, code);
      Files.createDirectories(cached.getParent());
      Path tmp = Files.createTempFile(cached.getParent(), source, ".tmp");
      Files.write(tmp, cubin);
      Files.move(tmp, cached, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      return cubin;
    } catch (IOException e) {
      throw new UncheckedIOException("kernel cache " + cached, e);
    }
  }

  private String cacheKey(String code) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(code.getBytes(StandardCharsets.UTF_8));
      sha.update(header.getBytes(StandardCharsets.UTF_8));
      sha.update(String.join(" ", options(arch)).getBytes(StandardCharsets.UTF_8));
      int[] major = new int[1];
      int[] minor = new int[1];
      nvrtc.nvrtcVersion(major, minor); // another NVRTC may compile the same source differently
      sha.update(("nvrtc " + major[0] + "." + minor[0]).getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(sha.digest()).substring(0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private byte[] compile(String file, String code) {
    _nvrtcProgram program = new _nvrtcProgram();
    try (BytePointer src = new BytePointer(code); BytePointer name = new BytePointer(file);
        PointerPointer<BytePointer> headers = cStrings(header);
        PointerPointer<BytePointer> includeNames = cStrings(HEADER)) {
      checkNvrtc(nvrtc.nvrtcCreateProgram(program, src, name, 1, headers, includeNames), "nvrtcCreateProgram");
      String[] opts = options(arch);
      int err;
      try (PointerPointer<BytePointer> options = cStrings(opts)) {
        err = nvrtc.nvrtcCompileProgram(program, opts.length, options);
      }
      if (err != 0) {
        throw new IllegalStateException("NVRTC could not compile " + file + " for " + arch + ": "
            + nvrtc.nvrtcGetErrorString(err).getString() + "\n" + log(program));
      }
      try (SizeTPointer size = new SizeTPointer(1)) {
        checkNvrtc(nvrtc.nvrtcGetCUBINSize(program, size), "nvrtcGetCUBINSize");
        byte[] cubin = new byte[(int) size.get()];
        checkNvrtc(nvrtc.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN");
        LOG.info("compiled {} for {} with NVRTC ({} bytes of CUBIN)", file, arch, cubin.length);
        return cubin;
      }
    } finally {
      nvrtc.nvrtcDestroyProgram(program);
    }
  }

  /**
   * A C array of NUL-terminated UTF-8 strings ({@code const char* const*}). Not {@code new PointerPointer<>(new
   * BytePointer(text))}: with one argument that is PointerPointer's cast constructor, which reads the text's bytes as
   * pointers (NVRTC then crashes in strlen).
   */
  static PointerPointer<BytePointer> cStrings(String... values) {
    return new PointerPointer<>(values, StandardCharsets.UTF_8);
  }

  private static String log(_nvrtcProgram program) {
    try (SizeTPointer size = new SizeTPointer(1)) {
      nvrtc.nvrtcGetProgramLogSize(program, size);
      byte[] text = new byte[(int) size.get()];
      nvrtc.nvrtcGetProgramLog(program, text);
      return new String(text, StandardCharsets.UTF_8).trim();
    }
  }

  private static void checkNvrtc(int err, String what) {
    if (err != 0) {
      throw new IllegalStateException("NVRTC error in " + what + ": " + nvrtc.nvrtcGetErrorString(err).getString());
    }
  }
}
