package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.cli.EncodeCommandTest.Result;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.SafeTensors;
import org.mosaicbert.ml.ModelFolder;
import org.mosaicbert.ml.MosaicBertModel;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.testing.SharedTestData;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.train.Batches;
import org.mosaicbert.train.Sample;

/** {@code export} then {@code import}: the same model, bit for bit, and a Hugging Face folder with upstream names. */
class HfInteropTest {
  /** The config.json keys of mosaic-bert-base (docs/model.md §2.2), auto_map aside. */
  private static final List<String> SPEC_KEYS = List.of("alibi_starting_size", "architectures",
      "attention_probs_dropout_prob", "classifier_dropout", "hidden_act", "hidden_dropout_prob", "hidden_size",
      "initializer_range", "intermediate_size", "layer_norm_eps", "max_position_embeddings", "model_type",
      "num_attention_heads", "num_hidden_layers", "pad_token_id", "position_embedding_type", "type_vocab_size",
      "vocab_size");

  @TempDir Path tmp;

  @Test
  void anMlmModelSurvivesExportAndImport() throws IOException {
    ModelFolder original = model(ParameterLayout.Heads.MLM, 2);
    Path ours = save(original, "ours");
    Path hf = tmp.resolve("hf");
    Path back = tmp.resolve("back");
    Result export = EncodeCommandTest.run(new byte[0], "export", "--model", ours.toString(), "--output", hf.toString());
    assertEquals(0, export.code(), export.err());
    assertFalse(export.err().contains("deprecated"), export.err());
    Result imported = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", back.toString());
    assertEquals(0, imported.code(), imported.err());
    assertTrue(imported.out().contains("BertForMaskedLM") && imported.out().contains("F32"), imported.out());
    // Made as any folder is, not private as a temporary folder would be.
    Path plain = Files.createDirectory(tmp.resolve("plain"));
    assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(hf));
    assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(back));
    Files.delete(plain);

    JsonNode config = json(hf.resolve("config.json"));
    SPEC_KEYS.forEach(k -> assertTrue(config.has(k), "config.json lacks " + k));
    assertFalse(config.has("auto_map"));
    assertEquals("BertForMaskedLM", config.get("architectures").get(0).asText());
    assertEquals(2, config.get("num_hidden_layers").asInt());
    assertEquals(30528, config.get("vocab_size").asInt());

    SafeTensors st = SafeTensors.open(hf.resolve("model.safetensors"));
    assertShape(st, "bert.embeddings.word_embeddings.weight", 30528, 128);
    assertShape(st, "bert.encoder.layer.0.attention.self.Wqkv.weight", 384, 128);
    assertShape(st, "bert.encoder.layer.1.mlp.gated_layers.weight", 512, 128);
    assertShape(st, "bert.encoder.layer.1.mlp.wo.weight", 128, 256);
    assertShape(st, "bert.encoder.layer.1.mlp.layernorm.bias", 128);
    assertShape(st, "cls.predictions.transform.dense.weight", 128, 128);
    assertShape(st, "cls.predictions.decoder.bias", 30528);
    assertEquals(upstreamNames(2, false), st.entries().keySet(), "the tensors of an upstream BertForMaskedLM, the "
        + "tied decoder weight left out as Hugging Face leaves it out");

    JsonNode tokenizer = json(hf.resolve("tokenizer_config.json"));
    assertEquals("BertTokenizer", tokenizer.get("tokenizer_class").asText());
    assertTrue(tokenizer.get("do_lower_case").asBoolean());
    assertEquals(1024, tokenizer.get("model_max_length").asInt());
    assertEquals("[MASK]", json(hf.resolve("special_tokens_map.json")).get("mask_token").asText());
    assertArrayEquals(Files.readAllBytes(ours.resolve("vocab.txt")), Files.readAllBytes(hf.resolve("vocab.txt")));

    assertSameModel(original, ours, back);
    float[] before = predict(original);
    assertNotEquals(before[0], before[128], "two tokens, two hidden states");
    assertBitEqual(before, predict(ModelFolder.read(back.toString(), new Configuration())));
    assertEquals(Set.of("back", "hf", "ours"), names(tmp), "no temporary folder left behind");

    SparkSession spark = SubcommandSpark.submittedOrLocal("test");
    try {
      MosaicBertModel loaded = MosaicBertModel.load(back.toString());
      assertBitEqual(original.parameters(), loaded.folder().parameters());
    } finally {
      spark.stop();
    }
  }

  /** Paths are paths: a space or a % in them reaches the file system as written, not URI-encoded. */
  @Test
  void pathsWithSpacesAndPercentSignsAreTakenAsWritten() throws IOException {
    Path dir = java.nio.file.Files.createDirectories(tmp.resolve("a dir 100%"));
    Path ours = save(model(ParameterLayout.Heads.MLM, 1), "a dir 100%/our model");
    Path hf = dir.resolve("h f%20x");
    Path back = dir.resolve("back 1%");
    Result export = EncodeCommandTest.run(new byte[0], "export", "--model", ours.toString(), "--output", hf.toString());
    assertEquals(0, export.code(), export.err());
    Result imported = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", back.toString());
    assertEquals(0, imported.code(), imported.err());
    assertEquals(Set.of("our model", "h f%20x", "back 1%"), names(dir), "written where asked, and nowhere else");
    assertTrue(Files.exists(back.resolve("model.safetensors")) && Files.exists(hf.resolve("model.safetensors")));
  }

  @Test
  void aClassifierWithThreeLabelsSurvivesExportAndImport() throws IOException {
    ModelFolder original = model(ParameterLayout.Heads.CLASSIFIER, 3);
    Path ours = save(original, "ours");
    Path hf = tmp.resolve("hf");
    Path back = tmp.resolve("back");
    assertEquals(0, EncodeCommandTest.run(new byte[0], "export", "--model", ours.toString(), "--output",
        hf.toString()).code());
    Result imported = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", back.toString());
    assertEquals(0, imported.code(), imported.err());
    assertTrue(imported.out().contains("3 label(s)"), imported.out());

    JsonNode config = json(hf.resolve("config.json"));
    SPEC_KEYS.forEach(k -> assertTrue(config.has(k), "config.json lacks " + k));
    assertFalse(config.has("auto_map"));
    assertEquals("BertForSequenceClassification", config.get("architectures").get(0).asText());
    assertEquals(3, config.get("num_labels").asInt());
    assertEquals(new ObjectMapper().readTree("{\"0\": \"LABEL_0\", \"1\": \"LABEL_1\", \"2\": \"LABEL_2\"}"),
        config.get("id2label"));
    assertEquals(new ObjectMapper().readTree("{\"LABEL_0\": 0, \"LABEL_1\": 1, \"LABEL_2\": 2}"),
        config.get("label2id"));

    SafeTensors st = SafeTensors.open(hf.resolve("model.safetensors"));
    assertShape(st, "classifier.weight", 3, 128);
    assertShape(st, "classifier.bias", 3);
    assertShape(st, "bert.pooler.dense.weight", 128, 128);
    assertEquals(upstreamNames(2, true), st.entries().keySet());

    assertSameModel(original, ours, back);
    float[] before = predict(original);
    assertEquals(6, before.length, "two rows of three logits");
    assertBitEqual(before, predict(ModelFolder.read(back.toString(), new Configuration())));
  }

  @Test
  void bf16TensorsWithComposersPrefixAndAStoredTiedDecoderImport() throws IOException {
    ModelFolder original = model(ParameterLayout.Heads.MLM, 2);
    float[] rounded = original.parameters().clone();
    for (int i = 0; i < rounded.length; i++) {
      rounded[i] = Float.intBitsToFloat(Float.floatToRawIntBits(rounded[i]) & 0xFFFF0000); // exact in BF16
    }
    ModelFolder exact = new ModelFolder(original.config(), original.heads(), rounded, original.vocab(),
        original.normalizer());
    Path hf = Files.createDirectories(tmp.resolve("hf"));
    save(exact, "ours");
    Files.copy(tmp.resolve("ours/config.json"), hf.resolve("config.json"));
    Files.copy(tmp.resolve("ours/vocab.txt"), hf.resolve("vocab.txt"));
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    ParameterLayout layout = new ParameterLayout(exact.config(), exact.heads());
    for (ParameterLayout.Tensor t : layout.tensors()) {
      tensors.add(bf16("model." + t.name(), slice(rounded, t), t.shape()));
    }
    ParameterLayout.Tensor words = layout.get("bert.embeddings.word_embeddings.weight");
    tensors.add(bf16("model.cls.predictions.decoder.weight", slice(rounded, words), words.shape()));
    SafeTensors.write(hf.resolve("model.safetensors"), tensors, Map.of("format", "pt"));

    Path back = tmp.resolve("back");
    Result r = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", back.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("BF16"), r.out());
    assertSameModel(exact, tmp.resolve("ours"), back);
  }

  @Test
  void aCasedModelExportsItsFlagsAndImportsCased() throws IOException {
    ModelFolder original = model(ParameterLayout.Heads.MLM, 2, BertNormalizer.cased());
    Path ours = save(original, "ours");
    Path hf = tmp.resolve("hf");
    Path back = tmp.resolve("back");
    Result export = EncodeCommandTest.run(new byte[0], "export", "--model", ours.toString(), "--output", hf.toString());
    assertEquals(0, export.code(), export.err());
    assertTrue(export.out().contains("cased"), export.out());
    JsonNode tokenizer = json(hf.resolve("tokenizer_config.json"));
    assertFalse(tokenizer.get("do_lower_case").asBoolean());
    assertFalse(tokenizer.get("strip_accents").asBoolean());
    assertTrue(tokenizer.get("tokenize_chinese_chars").asBoolean());
    Result imported = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", back.toString());
    assertEquals(0, imported.code(), imported.err());
    assertTrue(imported.out().endsWith(", cased\n"), imported.out());
    assertSameModel(original, ours, back);
  }

  @Test
  void aCasedHuggingFaceFolderImportsWithItsFlags() throws IOException {
    Path hf = Files.createDirectories(tmp.resolve("hf"));
    model(ParameterLayout.Heads.MLM, 2).writeLocal(hf);
    // As bert-base-cased has it: strip_accents absent, so it follows do_lower_case.
    Files.writeString(hf.resolve("tokenizer_config.json"), "{\"do_lower_case\": false, \"model_max_length\": 512}");
    Result r = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", tmp.resolve("back")
        .toString());
    assertEquals(0, r.code(), r.err());
    assertEquals(BertNormalizer.cased(), ModelFolder.read(tmp.resolve("back").toString(), new Configuration())
        .normalizer());
    Files.delete(hf.resolve("tokenizer_config.json"));
    r = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", tmp.resolve("back")
        .toString(), "--overwrite");
    assertEquals(0, r.code(), r.err());
    assertEquals(BertNormalizer.uncased(), ModelFolder.read(tmp.resolve("back").toString(), new Configuration())
        .normalizer(), "no tokenizer_config.json: BertTokenizer's defaults, uncased");
  }

  /** The released mosaic-bert-base config has attention dropout 0.1; the import trains without it, and says so. */
  @Test
  void attentionDropoutIsSetToZeroOnImportAndSaid() throws IOException {
    Path hf = Files.createDirectories(tmp.resolve("hf"));
    model(ParameterLayout.Heads.MLM, 2).writeLocal(hf);
    ObjectNode config = (ObjectNode) new ObjectMapper().readTree(hf.resolve("config.json").toFile());
    Files.writeString(hf.resolve("config.json"), config.put("attention_probs_dropout_prob", 0.1).toString());
    Result r = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", tmp.resolve("back")
        .toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("attention_probs_dropout_prob: 0.1 in config.json, 0.0 in the import"), r.out());
    assertEquals(0.0, ModelFolder.read(tmp.resolve("back").toString(), new Configuration()).config()
        .attentionDropout());
  }

  /** model_max_length is the length trained at; a folder that does not record one takes alibi_starting_size. */
  @Test
  void modelMaxLengthIsTheLengthTrainedAt() throws IOException {
    ModelFolder any = model(ParameterLayout.Heads.MLM, 2);
    Path ours = save(new ModelFolder(any.config(), any.heads(), any.parameters(), any.vocab(), any.normalizer(),
        2048), "ours");
    Result export = EncodeCommandTest.run(new byte[0], "export", "--model", ours.toString(), "--output",
        tmp.resolve("hf").toString());
    assertEquals(0, export.code(), export.err());
    assertEquals(2048, json(tmp.resolve("hf").resolve("tokenizer_config.json")).get("model_max_length").asInt());
    assertEquals(2048, ModelFolder.read(ours.toString(), new Configuration()).trainedSeqLen());
    Path tokenizerConfig = ours.resolve("tokenizer_config.json");
    // Hugging Face's "no limit", as it saves a tokenizer that has none.
    Files.writeString(tokenizerConfig, "{\"model_max_length\": 1000000000000000019884624838656}");
    assertEquals(1024, ModelFolder.read(ours.toString(), new Configuration()).trainedSeqLen());
    Files.delete(tokenizerConfig);
    assertEquals(1024, ModelFolder.read(ours.toString(), new Configuration()).trainedSeqLen(), "a folder from "
        + "before tokenizer_config.json: alibi_starting_size, as export wrote then");
    Files.writeString(tokenizerConfig, "{\"model_max_length\": \"long\"}");
    String err = assertThrows(IllegalArgumentException.class, () -> ModelFolder.read(ours.toString(),
        new Configuration())).getMessage();
    assertTrue(err.contains("tokenizer_config.json: model_max_length must be a positive integer, not \"long\""),
        err);
  }

  @Test
  void aTokenizerConfigWithAWrongTypeIsNamed() throws IOException {
    Path hf = Files.createDirectories(tmp.resolve("hf"));
    model(ParameterLayout.Heads.MLM, 2).writeLocal(hf);
    Files.writeString(hf.resolve("tokenizer_config.json"), "{\"do_lower_case\": \"no\"}");
    String err = refusedImport(hf);
    assertTrue(err.contains(hf.resolve("tokenizer_config.json") + ": do_lower_case must be true or false"), err);
  }

  @Test
  void anUntiedDecoderIsRefused() throws IOException {
    ModelFolder original = model(ParameterLayout.Heads.MLM, 2);
    Path hf = Files.createDirectories(tmp.resolve("hf"));
    original.writeLocal(hf);
    SafeTensors st = SafeTensors.open(hf.resolve("model.safetensors"));
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    for (SafeTensors.Entry e : st.entries().values()) {
      tensors.add(SafeTensors.Tensor.f32(e.name(), st.floats(e.name()), e.shape()));
    }
    float[] decoder = st.floats("bert.embeddings.word_embeddings.weight");
    decoder[5] += 1;
    tensors.add(SafeTensors.Tensor.f32("cls.predictions.decoder.weight", decoder, 30528, 128));
    SafeTensors.write(hf.resolve("model.safetensors"), tensors, Map.of());
    String err = refusedImport(hf);
    assertTrue(err.contains("cls.predictions.decoder.weight differs"), err);
  }

  @Test
  void aPickleWithoutSafetensorsIsRefusedWithTheConversionCommand() throws IOException {
    Path hf = Files.createDirectories(tmp.resolve("hf"));
    Files.writeString(hf.resolve("config.json"), "{}");
    Files.writeString(hf.resolve("vocab.txt"), "[PAD]\n");
    Files.write(hf.resolve("pytorch_model.bin"), new byte[] {(byte) 0x80, 2, 'c'});
    Result r = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", tmp.resolve("back")
        .toString());
    assertEquals(1, r.code());
    assertTrue(r.err().startsWith("import: "), r.err());
    assertTrue(r.err().contains("pytorch_model.bin") && r.err().contains("code execution"), r.err());
    assertTrue(r.err().contains("torch.load('" + hf + "/pytorch_model.bin', weights_only=True)")
        && r.err().contains("save_file("), r.err());
    assertFalse(Files.exists(tmp.resolve("back")));
  }

  @Test
  void aMissingVocabIsNamed() throws IOException {
    Path hf = Files.createDirectories(tmp.resolve("hf"));
    model(ParameterLayout.Heads.MLM, 2).writeLocal(hf);
    Files.delete(hf.resolve("vocab.txt"));
    Result r = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", tmp.resolve("back")
        .toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains(hf + " has no vocab.txt"), r.err());
  }

  @Test
  void aNonEmptyTargetNeedsOverwrite() throws IOException {
    Path ours = save(model(ParameterLayout.Heads.MLM, 2), "ours");
    Path hf = Files.createDirectories(tmp.resolve("hf"));
    Files.writeString(hf.resolve("keep.txt"), "mine");
    Result refused = EncodeCommandTest.run(new byte[0], "export", "--model", ours.toString(), "--output",
        hf.toString());
    assertEquals(1, refused.code());
    assertTrue(refused.err().contains("--overwrite"), refused.err());
    assertEquals(Set.of("keep.txt"), names(hf), "the target is left as it was");
    Result replaced = EncodeCommandTest.run(new byte[0], "export", "--model", ours.toString(), "--output",
        hf.toString(), "--overwrite");
    assertEquals(0, replaced.code(), replaced.err());
    assertEquals(Set.of("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
        "special_tokens_map.json"), names(hf));
    assertEquals(Set.of("hf", "ours"), names(tmp));
  }

  /** --out, the output flag's name before every subcommand said --output, still works, saying it is deprecated. */
  @Test
  void theOldOutFlagStillWorksWithOneDeprecationLine() throws IOException {
    Path ours = save(model(ParameterLayout.Heads.MLM, 2), "ours");
    Path hf = tmp.resolve("hf");
    Result export = EncodeCommandTest.run(new byte[0], "export", "--model", ours.toString(), "--out", hf.toString());
    assertEquals(0, export.code(), export.err());
    assertEquals(1, export.err().lines().filter(l -> l.contains("--out is deprecated; use --output")).count(),
        export.err());
    assertTrue(Files.exists(hf.resolve("model.safetensors")));
    Result imported = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--out=" + tmp.resolve(
        "back"));
    assertEquals(0, imported.code(), imported.err());
    assertTrue(imported.err().contains("import: --out is deprecated; use --output"), imported.err());
    assertTrue(Files.exists(tmp.resolve("back").resolve("model.safetensors")));
    Result both = EncodeCommandTest.run(new byte[0], "export", "--model", ours.toString(), "--out", hf.toString(),
        "--output", hf.toString());
    assertEquals(2, both.code());
    assertTrue(both.err().contains("--output is given twice"), both.err());
  }

  @Test
  void helpAndBadFlags() {
    for (String command : List.of("export", "import")) {
      Result help = EncodeCommandTest.run(new byte[0], command, "--help");
      assertEquals(0, help.code());
      assertTrue(help.out().startsWith("usage: mosaicbert " + command), help.out());
      assertTrue(help.out().contains("--output DIR [--overwrite]") && help.out().contains("  --output DIR "),
          help.out());
      Result bad = EncodeCommandTest.run(new byte[0], command, "--model-dir", "x");
      assertEquals(2, bad.code());
      assertTrue(bad.err().contains("unknown flag --model-dir"), bad.err());
      Result missing = EncodeCommandTest.run(new byte[0], command);
      assertEquals(2, missing.code());
      assertTrue(missing.err().contains("is required"), missing.err());
    }
  }

  private static ModelFolder model(ParameterLayout.Heads heads, int labels) throws IOException {
    return model(heads, labels, BertNormalizer.uncased());
  }

  /** A tiny model with the bert-base-uncased vocabulary and every parameter random (biases too). */
  private static ModelFolder model(ParameterLayout.Heads heads, int labels, BertNormalizer normalizer)
      throws IOException {
    List<String> vocab = Files.readAllLines(SharedTestData.vocabTxt(), StandardCharsets.UTF_8);
    // alibi_starting_size apart from max_position_embeddings (512), to see which one model_max_length takes.
    ModelConfig config = ModelConfig.fromJson(ModelConfig.preset("tiny", vocab.size()).withHead(labels)
        .toJson(List.of()).put("alibi_starting_size", 1024));
    ParameterLayout layout = new ParameterLayout(config, heads);
    float[] params = new float[(int) layout.size()];
    Random random = new Random(labels);
    for (ParameterLayout.Tensor t : layout.tensors()) {
      float base = t.init() == ParameterLayout.Init.ONES ? 1 : 0;
      for (long i = t.offset(); i < t.offset() + t.size(); i++) {
        params[(int) i] = base + (float) (0.05 * random.nextGaussian());
      }
    }
    return new ModelFolder(config, heads, params, vocab, normalizer);
  }

  /** Runs import on {@code hf}, which must fail and write nothing; returns what it said. */
  private String refusedImport(Path hf) {
    Result r = EncodeCommandTest.run(new byte[0], "import", "--hf", hf.toString(), "--output", tmp.resolve("back")
        .toString());
    assertEquals(1, r.code());
    assertFalse(Files.exists(tmp.resolve("back")));
    return r.err();
  }

  private Path save(ModelFolder folder, String name) throws IOException {
    Path dir = tmp.resolve(name);
    folder.write(dir.toString(), new Configuration());
    return dir;
  }

  /**
   * Same config, heads, weights (bit for bit), vocabulary, tokenizer settings and config.json as the model saved in
   * {@code ours}.
   */
  private static void assertSameModel(ModelFolder original, Path ours, Path back) throws IOException {
    for (String f : List.of("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "metadata")) {
      assertTrue(Files.exists(back.resolve(f)), "the imported folder lacks " + f);
    }
    ModelFolder read = ModelFolder.read(back.toString(), new Configuration());
    assertEquals(original.config(), read.config());
    assertEquals(original.heads(), read.heads());
    assertEquals(original.vocab(), read.vocab());
    assertEquals(original.normalizer(), read.normalizer());
    assertBitEqual(original.parameters(), read.parameters());
    assertEquals(json(ours.resolve("config.json")), json(back.resolve("config.json")));
    assertArrayEquals(Files.readAllBytes(ours.resolve("vocab.txt")), Files.readAllBytes(back.resolve("vocab.txt")));
  }

  /** Hidden states (MLM model) or logits (classifier) of two sequences, a pair among them, from the engine. */
  private static float[] predict(ModelFolder f) {
    List<Sample> samples = List.of(new Sample(0, new int[] {101, 7592, 2088, 102}, new int[4], 0f),
        new Sample(1, new int[] {101, 1996, 4937, 2003, 102, 2009, 102}, new int[] {0, 0, 0, 0, 0, 1, 1}, 0f));
    boolean classifier = f.heads() == ParameterLayout.Heads.CLASSIFIER;
    try (MosaicBert engine = new MosaicBert(f.config(), f.heads(), new CpuBackend(1),
        new MosaicBert.Capacity(32, 4, 16, 1))) {
      engine.backend().upload(engine.parameters().at(0), f.parameters(), 0, f.parameters().length);
      engine.forward(Batches.labelled(samples), classifier ? MosaicBert.Objective.CLASSIFICATION
          : MosaicBert.Objective.ENCODE, null);
      return classifier ? engine.classifierLogits() : engine.lastHiddenState();
    }
  }

  /** The upstream Hugging Face names (docs/model.md §2.1) of a model with {@code layers} layers. */
  private static Set<String> upstreamNames(int layers, boolean classifier) {
    Set<String> names = new TreeSet<>(List.of("bert.embeddings.word_embeddings.weight",
        "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
        "bert.embeddings.LayerNorm.bias"));
    for (int l = 0; l < layers; l++) {
      for (String s : List.of("attention.self.Wqkv.weight", "attention.self.Wqkv.bias",
          "attention.output.dense.weight", "attention.output.dense.bias", "attention.output.LayerNorm.weight",
          "attention.output.LayerNorm.bias", "mlp.gated_layers.weight", "mlp.wo.weight", "mlp.wo.bias",
          "mlp.layernorm.weight", "mlp.layernorm.bias")) {
        names.add("bert.encoder.layer." + l + "." + s);
      }
    }
    names.addAll(classifier ? List.of("bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight",
        "classifier.bias") : List.of("cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
        "cls.predictions.decoder.bias"));
    return names;
  }

  private static void assertShape(SafeTensors st, String name, long... shape) {
    assertTrue(st.has(name), "no tensor " + name);
    assertArrayEquals(shape, st.entry(name).shape(), name);
    assertEquals(SafeTensors.DType.F32, st.entry(name).dtype(), name);
  }

  private static void assertBitEqual(float[] expected, float[] actual) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) {
      if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
        throw new AssertionError("value " + i + ": " + expected[i] + " became " + actual[i]);
      }
    }
  }

  private static float[] slice(float[] params, ParameterLayout.Tensor t) {
    float[] out = new float[(int) t.size()];
    System.arraycopy(params, (int) t.offset(), out, 0, out.length);
    return out;
  }

  private static SafeTensors.Tensor bf16(String name, float[] values, int[] shape) {
    return new SafeTensors.Tensor(name, SafeTensors.DType.BF16, java.util.Arrays.stream(shape).asLongStream()
        .toArray(), values, null);
  }

  private static JsonNode json(Path file) throws IOException {
    return new ObjectMapper().readTree(file.toFile());
  }

  private static Set<String> names(Path dir) throws IOException {
    try (Stream<Path> list = Files.list(dir)) {
      return new TreeSet<>(list.map(p -> p.getFileName().toString()).toList());
    }
  }
}
