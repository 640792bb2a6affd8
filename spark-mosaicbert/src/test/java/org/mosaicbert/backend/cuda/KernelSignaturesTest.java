package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Reading kernel signatures and checking launches against them, on made-up kernel files (the real ones are
 * CudaBackendHostTest's, the checks on a device EmulatedDeviceTest's).
 */
class KernelSignaturesTest {
  private static final String FILE = """
      #include "common.cuh"
      // extern "C" __global__ void commented_out(int n) {}
      /* extern "C" __global__ void
         also_commented_out(int n) {} */
      extern "C" __global__ void __launch_bounds__(256, 1)
      scale(ALIGN16 bf16 *out, const float* inp,   long long n, float s, int rows,
            const unsigned long long* keys, unsigned long long site) {}
      extern "C" __global__ void empty() {}
      """;

  private static KernelSignatures signatures() {
    return KernelSignatures.of(Map.of("made_up.cu", FILE));
  }

  @Test
  void aSignatureIsReadParameterByParameterAndCommentsAreSkipped() {
    List<KernelSignatures.Kernel> kernels = KernelSignatures.parse("made_up.cu", FILE);
    assertEquals(List.of("scale", "empty"), kernels.stream().map(KernelSignatures.Kernel::name).toList());
    KernelSignatures.Kernel scale = kernels.get(0);
    assertEquals(List.of("ALIGN16 bf16* out", "const float* inp", "long long n", "float s", "int rows",
        "const unsigned long long* keys", "unsigned long long site"),
        scale.parameters().stream().map(KernelSignatures.Parameter::declaration).toList());
    assertEquals(List.of(KernelSignatures.Type.POINTER, KernelSignatures.Type.POINTER,
        KernelSignatures.Type.LONG_LONG, KernelSignatures.Type.FLOAT, KernelSignatures.Type.INT,
        KernelSignatures.Type.POINTER, KernelSignatures.Type.LONG_LONG),
        scale.parameters().stream().map(KernelSignatures.Parameter::type).toList());
    assertEquals(List.of(true, false, false, false, false, false, false),
        scale.parameters().stream().map(KernelSignatures.Parameter::aligned16).toList());
    assertEquals(List.of(), kernels.get(1).parameters());
  }

  @Test
  void whatCannotBeReadIsRefusedByFileKernelAndParameter() {
    String notExtern = assertThrows(IllegalStateException.class,
        () -> KernelSignatures.parse("bad.cu", "__global__ void k(int n) {}")).getMessage();
    assertTrue(notExtern.startsWith("bad.cu has 1 __global__ functions, of which 0 read as extern \"C\""),
        notExtern);
    String aDouble = assertThrows(IllegalStateException.class,
        () -> KernelSignatures.parse("bad.cu", "extern \"C\" __global__ void k(int n, double x) {}")).getMessage();
    assertTrue(aDouble.startsWith("kernel k (bad.cu), parameter 1 (double x): Device.launch passes pointers, int, "
        + "long long and float only"), aDouble);
    String alignedInt = assertThrows(IllegalStateException.class,
        () -> KernelSignatures.parse("bad.cu", "extern \"C\" __global__ void k(ALIGN16 int n) {}")).getMessage();
    assertEquals("kernel k (bad.cu), parameter 0 (ALIGN16 int n): ALIGN16 marks pointers only", alignedInt);
    String unnamed = assertThrows(IllegalStateException.class,
        () -> KernelSignatures.parse("bad.cu", "extern \"C\" __global__ void k(int) {}")).getMessage();
    assertEquals("kernel k (bad.cu), parameter 0 (int): not a C type followed by a name", unnamed);
    Map<String, String> twice = new LinkedHashMap<>();
    twice.put("a.cu", "extern \"C\" __global__ void k(int n) {}");
    twice.put("b.cu", "extern \"C\" __global__ void k(int n) {}");
    String duplicate = assertThrows(IllegalStateException.class, () -> KernelSignatures.of(twice)).getMessage();
    assertTrue(duplicate.startsWith("kernel k (b.cu): a.cu defines a kernel of that name too"), duplicate);
  }

  @Test
  void aLaunchThatMatchesItsSignaturePasses() {
    signatures().check("scale", new Object[] {new Device.Ptr(0x7f0000000010L), new Device.Ptr(0x7f0000000004L), 8L,
        0.5f, 2, new Device.Ptr(0), -1L});
    signatures().check("empty", new Object[0]);
  }

  @Test
  void aLaunchThatDoesNotIsRefusedNamingTheKernelTheParameterAndWhatWasGiven() {
    KernelSignatures signatures = signatures();
    Device.Ptr out = new Device.Ptr(0x7f0000000010L);
    Device.Ptr inp = new Device.Ptr(0x7f0000000004L);
    assertEquals("kernel scale (made_up.cu) takes 7 arguments, given 6: parameter 6 (unsigned long long site) has "
        + "no argument", refusal(signatures, "scale", out, inp, 8L, 0.5f, 2, new Device.Ptr(0)));
    assertEquals("kernel scale (made_up.cu) takes 7 arguments, given 8: argument 7 (an int (Integer) 3) has no "
        + "parameter", refusal(signatures, "scale", out, inp, 8L, 0.5f, 2, new Device.Ptr(0), -1L, 3));
    assertEquals("kernel scale (made_up.cu), parameter 2 (long long n): needs a long long (Long), given an int "
        + "(Integer) 8", refusal(signatures, "scale", out, inp, 8, 0.5f, 2, new Device.Ptr(0), -1L));
    assertEquals("kernel scale (made_up.cu), parameter 3 (float s): needs a float (Float), given a Double 0.5",
        refusal(signatures, "scale", out, inp, 8L, 0.5, 2, new Device.Ptr(0), -1L));
    assertEquals("kernel scale (made_up.cu), parameter 1 (const float* inp): needs a pointer (Ptr), given a long "
        + "long (Long) 4", refusal(signatures, "scale", out, 4L, 8L, 0.5f, 2, new Device.Ptr(0), -1L));
    assertEquals("kernel scale (made_up.cu), parameter 5 (const unsigned long long* keys): needs a pointer (Ptr), "
        + "given null", refusal(signatures, "scale", out, inp, 8L, 0.5f, 2, null, -1L));
    assertEquals("kernel scale (made_up.cu), parameter 0 (ALIGN16 bf16* out): address 0x7f0000000008 is not 16-byte "
        + "aligned, and the kernel moves 16 bytes at a time through it; a bf16 view must start at a multiple of 8 "
        + "elements", refusal(signatures, "scale", new Device.Ptr(0x7f0000000008L), inp, 8L, 0.5f, 2,
        new Device.Ptr(0), -1L));
    assertEquals("no kernel scale2 in the kernel files", refusal(signatures, "scale2"));
  }

  private static String refusal(KernelSignatures signatures, String kernel, Object... args) {
    return assertThrows(IllegalArgumentException.class, () -> signatures.check(kernel, args)).getMessage();
  }
}
