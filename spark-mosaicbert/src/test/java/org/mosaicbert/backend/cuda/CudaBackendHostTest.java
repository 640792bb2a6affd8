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
    for (String source : new String[] {"adamw", "attention", "elementwise", "embedding", "layernorm", "loss",
        "reduce", "unpad"}) {
      String code = CudaBackend.resource(source + ".cu");
      assertTrue(code.contains("#include \"common.cuh\""), source);
      Matcher m = Pattern.compile("extern \"C\"").matcher(code);
      int declared = 0;
      while (m.find()) {
        declared++;
      }
      List<String> found = CudaBackend.entryPoints(code);
      assertEquals(declared, found.size(), source + ": " + found);
      total += found.size();
    }
    assertTrue(CudaBackend.entryPoints(CudaBackend.resource("attention.cu")).containsAll(List.of("attention_forward",
        "attention_backward_dot", "attention_backward_dkdv", "attention_backward_dq")));
    assertTrue(total >= 30, "entry points: " + total);
    assertTrue(CudaBackend.resource("common.cuh").contains("#pragma once"));
    assertEquals(List.of("-std=c++17", "--gpu-architecture=sm_90"), List.of(CudaBackend.options("sm_90")));
  }
}
