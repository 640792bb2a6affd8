package org.mosaicbert.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.ParameterLayout;

class SafeTensorsTest {
  @TempDir Path tmp;

  @Test
  void writesAndReadsEveryDtype() throws IOException {
    Path file = tmp.resolve("t.safetensors");
    float[] values = {1.5f, -2.25f, 0f, 3.1415927f, 1e-3f, -65504f};
    SafeTensors.write(file, List.of(
        SafeTensors.Tensor.f32("a.f32", values, 2, 3),
        new SafeTensors.Tensor("b.bf16", SafeTensors.DType.BF16, new long[] {6}, values, null),
        new SafeTensors.Tensor("c.f16", SafeTensors.DType.F16, new long[] {6}, values, null),
        SafeTensors.Tensor.i64("d.i64", new long[] {1, -2, 1L << 40}, 3),
        new SafeTensors.Tensor("e.i32", SafeTensors.DType.I32, new long[] {2}, null, new long[] {7, -9})),
        Map.of("format", "pt"));
    SafeTensors st = SafeTensors.open(file);
    assertArrayEquals(values, st.floats("a.f32"));
    assertArrayEquals(new float[] {1.5f, -2.25f, 0f, 3.140625f, 9.994507E-4f, -65536f}, st.floats("b.bf16"));
    assertArrayEquals(new float[] {1.5f, -2.25f, 0f, 3.140625f, 0.0010004044f, -65504f}, st.floats("c.f16"));
    assertArrayEquals(new long[] {1, -2, 1L << 40}, st.longs("d.i64"));
    assertArrayEquals(new long[] {7, -9}, st.longs("e.i32"));
    assertEquals("pt", st.metadata().get("format"));
  }

  private Path raw(String header, int dataBytes) throws IOException {
    byte[] json = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + json.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(json.length).put(json);
    Path file = tmp.resolve("bad.safetensors");
    Files.write(file, b.array());
    return file;
  }

  private String error(Path file) {
    return assertThrows(IllegalArgumentException.class, () -> SafeTensors.open(file)).getMessage();
  }

  @Test
  void untrustedHeadersAreRefusedWithClearErrors() throws IOException {
    assertTrue(error(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8))
        .contains("outside the data section"));
    assertTrue(error(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16))
        .contains("needs 12"));
    assertTrue(error(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)).contains("overlap"));
    assertTrue(error(raw("{\"x\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8))
        .contains("dtype 'Q4'"));
    assertTrue(error(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8))
        .contains("more elements than the file holds"));
    Path longHeader = tmp.resolve("long.safetensors");
    Files.write(longHeader, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array());
    assertTrue(error(longHeader).contains("declares a header of"));
    Path tiny = tmp.resolve("tiny.safetensors");
    Files.write(tiny, new byte[3]);
    assertTrue(error(tiny).contains("shorter than the 8-byte header length"));
    Path pickle = tmp.resolve("pytorch_model.bin");
    Files.write(pickle, new byte[64]);
    assertTrue(error(pickle).contains("unpickling runs code"));
  }

  @Test
  void loadingStripsComposersPrefixAndReportsFreshHeads() throws IOException {
    ModelConfig c = new ModelConfig(64, 16, 1, 2, 32, 2, 1e-12, 0.1, 0, -1, 0.02, 2, null, 0, 64, 64, null);
    Path file = tmp.resolve("mlm.safetensors");
    ParameterLayout mlm = new ParameterLayout(c, ParameterLayout.Heads.MLM);
    float[] weights = ModelWeights.initial(mlm, c, 1);
    List<SafeTensors.Tensor> tensors = new java.util.ArrayList<>();
    for (ParameterLayout.Tensor t : mlm.tensors()) {
      tensors.add(SafeTensors.Tensor.f32("model." + t.name(), slice(weights, t),
          java.util.Arrays.stream(t.shape()).asLongStream().toArray()));
    }
    SafeTensors.write(file, tensors, Map.of());
    ParameterLayout classifier = new ParameterLayout(c, ParameterLayout.Heads.CLASSIFIER);
    ModelWeights.Loaded loaded = ModelWeights.load(classifier, c, file, 5, false);
    assertEquals(List.of("bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight",
        "classifier.bias"), loaded.initialised());
    assertTrue(loaded.ignored().contains("cls.predictions.decoder.bias"));
    String wo = "bert.encoder.layer.0.mlp.wo.weight";
    assertArrayEquals(slice(weights, mlm.get(wo)), slice(loaded.values(), classifier.get(wo)));
    ModelConfig wider = new ModelConfig(64, 32, 1, 2, 32, 2, 1e-12, 0.1, 0, -1, 0.02, 2, null, 0, 64, 64, null);
    String message = assertThrows(IllegalArgumentException.class, () -> ModelWeights.load(
        new ParameterLayout(wider, ParameterLayout.Heads.MLM), wider, file, 0, false)).getMessage();
    assertTrue(message.contains("has shape [64, 16] but the config gives [64, 32]"), message);
  }

  @Test
  void savedWeightsLoadBackBitForBit() throws IOException {
    ModelConfig c = new ModelConfig(64, 16, 1, 2, 32, 2, 1e-12, 0.1, 0, -1, 0.02, 2, null, 0, 64, 64, null);
    ParameterLayout both = new ParameterLayout(c, ParameterLayout.Heads.BOTH);
    float[] weights = ModelWeights.initial(both, c, 4);
    Path file = tmp.resolve("both.safetensors");
    ModelWeights.save(both, weights, file, Map.of());
    ModelWeights.Loaded loaded = ModelWeights.load(both, c, file, 0, false);
    assertArrayEquals(weights, loaded.values());
    assertEquals(List.of(), loaded.initialised());
  }

  @Test
  void nonFiniteWeightsAreRefusedNamingTheTensor() throws IOException {
    ModelConfig c = new ModelConfig(64, 16, 1, 2, 32, 2, 1e-12, 0.1, 0, -1, 0.02, 2, null, 0, 64, 64, null);
    ParameterLayout mlm = new ParameterLayout(c, ParameterLayout.Heads.MLM);
    ParameterLayout.Tensor t = mlm.tensors().get(3);
    for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
      float[] weights = ModelWeights.initial(mlm, c, 4);
      weights[(int) t.offset() + 2] = bad;
      Path file = tmp.resolve("bad.safetensors");
      ModelWeights.save(mlm, weights, file, Map.of());
      String message = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          () -> ModelWeights.load(mlm, c, file, 0, false)).getMessage();
      assertTrue(message.contains("tensor " + t.name() + " holds " + bad + " at index 2"), message);
    }
  }

  private static float[] slice(float[] weights, ParameterLayout.Tensor t) {
    return java.util.Arrays.copyOfRange(weights, (int) t.offset(), (int) (t.offset() + t.size()));
  }
}
