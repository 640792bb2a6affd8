package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The host-side parts of CudaBackend that run without a GPU: resources, entry-point discovery, cache keys. */
class CudaBackendHostTest {
  @Test
  void everyKernelFileIsFoundAndEveryEntryPointIsDiscovered() {
    int total = 0;
    for (String source : Device.SOURCES) {
      String code = Device.resource(source + ".cu");
      assertTrue(code.contains("#include \"common.cuh\""), source);
      Matcher m = Pattern.compile("extern \"C\"").matcher(code);
      int declared = 0;
      while (m.find()) {
        declared++;
      }
      List<String> found = Device.entryPoints(code);
      assertEquals(declared, found.size(), source + ": " + found);
      total += found.size();
    }
    assertTrue(Device.entryPoints(Device.resource("attention.cu")).containsAll(List.of("attention_forward",
        "attention_backward_dot", "attention_backward_dkdv", "attention_backward_dq")));
    assertTrue(total >= 30, "entry points: " + total);
    assertTrue(Device.resource("common.cuh").contains("#pragma once"));
    assertEquals(List.of("-std=c++17", "--gpu-architecture=sm_90"), List.of(CudaDevice.options("sm_90")));
  }

  /** Every kernel name CudaBackend and CudaDevice launch (literal, or a stem + head dimension) is an entry point of a source. */
  @Test
  void everyLaunchedKernelExists() throws java.io.IOException {
    java.util.Set<String> entries = new java.util.HashSet<>();
    for (String source : Device.SOURCES) {
      entries.addAll(Device.entryPoints(Device.resource(source + ".cu")));
    }
    String host = java.nio.file.Files.readString(java.nio.file.Path.of(
        "src/main/java/org/mosaicbert/backend/cuda/CudaBackend.java")) + java.nio.file.Files.readString(
        java.nio.file.Path.of("src/main/java/org/mosaicbert/backend/cuda/CudaDevice.java"));
    Matcher m = Pattern.compile("launch\\(\"(\\w+)\"( \\+ headDim)?").matcher(host);
    int launches = 0;
    while (m.find()) {
      launches++;
      List<String> names = m.group(2) == null ? List.of(m.group(1)) : List.of(m.group(1) + 16, m.group(1) + 32);
      for (String name : names) {
        assertTrue(entries.contains(name), "CudaBackend launches " + name + ", which no kernel file defines");
      }
    }
    assertTrue(launches >= 30, "launch sites found: " + launches);
  }
}
