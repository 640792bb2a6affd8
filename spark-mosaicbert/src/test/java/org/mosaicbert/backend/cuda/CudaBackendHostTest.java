package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The host-side parts of the CUDA backend that run without a GPU: the kernel files, their signatures, the options. */
class CudaBackendHostTest {
  private static final Path KERNEL_DIR = Path.of("src/main/resources/org/mosaicbert/backend/cuda");

  @Test
  void everyKernelOfEveryKernelFileIsParsed() throws IOException {
    Set<String> onDisk;
    try (Stream<Path> files = Files.list(KERNEL_DIR)) {
      onDisk = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu"))
          .collect(Collectors.toCollection(TreeSet::new));
    }
    Map<String, String> kernelFiles = Device.kernelFiles();
    assertEquals(onDisk, new TreeSet<>(kernelFiles.keySet()), "Device.SOURCES must list every .cu file");

    KernelSignatures signatures = KernelSignatures.of(kernelFiles);
    int total = 0;
    for (Map.Entry<String, String> file : kernelFiles.entrySet()) {
      String code = file.getValue();
      assertTrue(code.contains("#include \"common.cuh\""), file.getKey());
      long declared = Pattern.compile("extern \"C\"").matcher(code).results().count();
      List<KernelSignatures.Kernel> parsed = signatures.inFile(file.getKey());
      assertEquals(declared, parsed.size(), file.getKey() + ": " + parsed);
      for (KernelSignatures.Kernel kernel : parsed) {
        assertTrue(!kernel.parameters().isEmpty(), kernel.where());
        // The declarations as parsed, put back together, are the signature as written.
        int at = code.indexOf("\n" + kernel.name() + "(");
        assertTrue(at >= 0, kernel.where() + ": its name does not start the line of its signature");
        String written = code.substring(at + kernel.name().length() + 2, code.indexOf(')', at))
            .replaceAll("\\s+", " ").trim();
        assertEquals(written, declarations(kernel), kernel.where());
      }
      total += parsed.size();
    }
    assertEquals(total, signatures.kernels().size());
    assertTrue(total >= 30, "kernels: " + total);

    assertEquals("ALIGN16 bf16* out, ALIGN16 const bf16* g, int n, int I",
        declarations(kernel(signatures, "geglu_forward")));
    assertEquals(List.of(KernelSignatures.Type.POINTER, KernelSignatures.Type.POINTER, KernelSignatures.Type.INT,
        KernelSignatures.Type.INT), types(kernel(signatures, "geglu_forward")));
    KernelSignatures.Kernel layerNorm = kernel(signatures, "layernorm_forward");
    assertEquals(List.of(0, 1, 4, 5, 6, 7), layerNorm.parameters().stream()
        .filter(KernelSignatures.Parameter::aligned16).map(KernelSignatures.Parameter::index).toList());
    assertEquals(List.of(KernelSignatures.Type.INT, KernelSignatures.Type.INT, KernelSignatures.Type.FLOAT,
        KernelSignatures.Type.FLOAT, KernelSignatures.Type.POINTER, KernelSignatures.Type.LONG_LONG),
        types(layerNorm).subList(8, 14));
    assertEquals(KernelSignatures.Type.LONG_LONG, kernel(signatures, "cast_f32_to_bf16").parameters().get(2).type());
    assertEquals(List.of("-std=c++17", "--gpu-architecture=sm_90"), List.of(NvrtcCompiler.options("sm_90")));
  }

  private static KernelSignatures.Kernel kernel(KernelSignatures signatures, String name) {
    return signatures.kernels().stream().filter(k -> k.name().equals(name)).findFirst().orElseThrow();
  }

  private static String declarations(KernelSignatures.Kernel kernel) {
    return kernel.parameters().stream().map(KernelSignatures.Parameter::declaration).collect(Collectors.joining(", "));
  }

  private static List<KernelSignatures.Type> types(KernelSignatures.Kernel kernel) {
    return kernel.parameters().stream().map(KernelSignatures.Parameter::type).toList();
  }

  /** Every kernel name CudaBackend launches (literal, or a stem + head dimension) is a kernel of a file. */
  @Test
  void everyLaunchedKernelExists() throws IOException {
    Set<String> kernels = KernelSignatures.ofResources().kernels().stream().map(KernelSignatures.Kernel::name)
        .collect(Collectors.toSet());
    String host = Files.readString(Path.of("src/main/java/org/mosaicbert/backend/cuda/CudaBackend.java"));
    Matcher m = Pattern.compile("launch\\(\"(\\w+)\"( \\+ headDim)?").matcher(host);
    int launches = 0;
    while (m.find()) {
      launches++;
      List<String> names = m.group(2) == null ? List.of(m.group(1)) : List.of(m.group(1) + 16, m.group(1) + 32);
      for (String name : names) {
        assertTrue(kernels.contains(name), "CudaBackend launches " + name + ", which no kernel file defines");
      }
    }
    assertTrue(launches >= 30, "launch sites found: " + launches);
  }
}
