package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.cli.EncodeCommandTest.Result;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.testing.SharedTestData;

/**
 * A cased pipeline stays cased from the corpus to the scores: {@code tokenize --cased}, {@code pretrain} (the model
 * folder keeps the shards' tokenizer settings), then {@code predict}, {@code finetune}, {@code glue} and the
 * estimator's fit from {@code initModel} all tokenize as the model was trained. An uncased pipeline lowercases
 * throughout, as before.
 */
class CasedPipelineTest {
  @TempDir static Path tmp;
  private static Path cased;
  private static Path uncased;

  /** Pretrains a tiny model on a corpus where "Apple" (the company) and "apple" (the fruit) both occur often. */
  @BeforeAll
  static void pretrainCasedAndUncased() throws IOException {
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 120; i++) {
      lines.add(i % 2 == 0 ? "Apple sells phones and computers in store " + i
          : "she ate a red apple from the old tree " + i);
    }
    Path corpus = tmp.resolve("corpus.txt");
    Files.write(corpus, lines, StandardCharsets.UTF_8);
    cased = pretrain(corpus, "cased", "--cased");
    uncased = pretrain(corpus, "uncased");
  }

  private static Path pretrain(Path corpus, String name, String... casedFlag) {
    Path shards = tmp.resolve(name + "-shards");
    List<String> tokenize = new ArrayList<>(List.of("tokenize", "--input", corpus.toString(), "--output",
        shards.toString(), "--vocab-size", "128", "--max-seq-len", "32"));
    tokenize.addAll(List.of(casedFlag));
    Result r = EncodeCommandTest.run(new byte[0], tokenize.toArray(new String[0]));
    assertEquals(0, r.code(), r.err());
    Path model = tmp.resolve(name + "-model");
    r = EncodeCommandTest.run(new byte[0], "pretrain", "--data", shards.toString(), "--output", model.toString(),
        "--max-steps", "2", "--batch", "8", "--micro-batch", "8");
    assertEquals(0, r.code(), r.err());
    return model;
  }

  @Test
  void pretrainingKeepsTheShardsTokenizerSettings() throws IOException {
    JsonNode casedConfig = json(cased.resolve("tokenizer_config.json"));
    assertFalse(casedConfig.get("do_lower_case").asBoolean());
    assertFalse(casedConfig.get("strip_accents").asBoolean());
    JsonNode uncasedConfig = json(uncased.resolve("tokenizer_config.json"));
    assertTrue(uncasedConfig.get("do_lower_case").asBoolean());
    assertTrue(uncasedConfig.get("strip_accents").asBoolean());
  }

  @Test
  void aCasedModelTellsAppleFromAppleAndAnUncasedOneDoesNot() throws IOException {
    double[][] casedEmbeddings = embeddings(cased, "Apple", "apple");
    double[][] uncasedEmbeddings = embeddings(uncased, "Apple", "apple");
    System.out.printf(Locale.ROOT, "Apple vs apple, L2 distance of the mean embeddings: cased %.6f, uncased %.6f%n",
        distance(casedEmbeddings[0], casedEmbeddings[1]), distance(uncasedEmbeddings[0], uncasedEmbeddings[1]));
    assertTrue(distance(casedEmbeddings[0], casedEmbeddings[1]) > 1e-3, "the cased model sees two words");
    assertArrayEquals(uncasedEmbeddings[0], uncasedEmbeddings[1], 0, "the uncased model sees one word");
  }

  @Test
  void fineTuningAndGlueKeepTheModelsCasing() throws IOException {
    Path train = tmp.resolve("labelled.csv");
    List<String> rows = new ArrayList<>(List.of("text,label"));
    for (int i = 0; i < 16; i++) {
      rows.add(i % 2 == 0 ? "Apple sells phones " + i + ",1" : "she ate an apple " + i + ",0");
    }
    Files.write(train, rows, StandardCharsets.UTF_8);
    Path finetuned = tmp.resolve("finetuned");
    Result r = EncodeCommandTest.run(new byte[0], "finetune", "--model", cased.toString(), "--train",
        train.toString(), "--output", finetuned.toString(), "--max-steps", "2", "--batch", "8", "--max-seq-len", "32");
    assertEquals(0, r.code(), r.err());
    assertFalse(json(finetuned.resolve("tokenizer_config.json")).get("do_lower_case").asBoolean());
    // From scratch: no initModel, so the folder's tokenizer_config.json alone says how to tokenize.
    Path glue = tmp.resolve("glue");
    r = EncodeCommandTest.run(new byte[0], "glue", "--model", cased.toString(), "--from-scratch", "--data",
        SharedTestData.path("data/glue").toString(), "--output", glue.toString(), "--tasks", "SST-2",
        "--train-rows", "16", "--max-steps", "1", "--max-seq-len", "32", "--seeds", "19");
    assertEquals(0, r.code(), r.err());
    assertFalse(json(glue.resolve("SST-2-seed19").resolve("tokenizer_config.json")).get("do_lower_case")
        .asBoolean());
  }

  /**
   * Fine-tuning from a cased model on texts and on the same texts lowercased trains two models; from an uncased
   * model, the same one to the bit (both see the same tokens).
   */
  @Test
  void fineTuningFromAnInitModelTokenizesAsItWasTrained() {
    SparkSession spark = SubcommandSpark.submittedOrLocal("test");
    try {
      List<Row> rows = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        rows.add(RowFactory.create(i % 2 == 0 ? "Apple sells phones" : "she ate an Apple", (double) (i % 2)));
      }
      StructType schema = new StructType().add("text", DataTypes.StringType).add("label", DataTypes.DoubleType);
      Dataset<Row> texts = spark.createDataFrame(rows, schema);
      Dataset<Row> lowered = texts.withColumn("text", org.apache.spark.sql.functions.lower(texts.col("text")));
      assertFalse(java.util.Arrays.equals(fineTune(cased, texts), fineTune(cased, lowered)));
      assertArrayEquals(fineTune(uncased, texts), fineTune(uncased, lowered));

      MosaicBertEstimator disagreeing = estimator(cased).setTokenizerConfig(uncased.resolve("tokenizer_config.json")
          .toString());
      String message = assertThrows(IllegalArgumentException.class, () -> disagreeing.fit(texts)).getMessage();
      assertTrue(message.contains("the tokenizer settings disagree"), message);
    } finally {
      spark.stop();
    }
  }

  @Test
  void aTokenizerConfigWithAWrongTypeNamesTheFileAndKey() throws IOException {
    Path broken = tmp.resolve("broken-model");
    try (Stream<Path> files = Files.walk(cased)) {
      for (Path from : files.toList()) {
        Files.copy(from, broken.resolve(cased.relativize(from).toString()));
      }
    }
    Files.writeString(broken.resolve("tokenizer_config.json"), "{\"do_lower_case\": \"false\"}");
    Path words = tmp.resolve("one-word.txt");
    Files.writeString(words, "Apple\n");
    Result r = EncodeCommandTest.run(new byte[0], "predict", "--model", broken.toString(), "--input",
        words.toString(), "--output", tmp.resolve("never").toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains(broken.resolve("tokenizer_config.json") + ": do_lower_case must be true or false"),
        r.err());
  }

  private static float[] fineTune(Path initModel, Dataset<Row> texts) {
    return estimator(initModel).fit(texts).folder().parameters();
  }

  private static MosaicBertEstimator estimator(Path initModel) {
    return new MosaicBertEstimator().setObjective("classification").setInitModel(initModel.toString())
        .setModelConfig(initModel.resolve("config.json").toString()).setVocab(initModel.resolve("vocab.txt")
            .toString()).setTextCol("text").setMaxSeqLen(32).setGlobalBatchSize(4).setMaxSteps(2).setLr(1e-3);
  }

  /**
   * The mean embeddings {@code predict} writes for each word, in order. One row a batch: the same tokens then give
   * the same bits (in one batch, rows at other positions may round differently in the GEMMs).
   */
  private static double[][] embeddings(Path model, String... words) throws IOException {
    Path input = tmp.resolve(model.getFileName() + "-words.txt");
    Files.write(input, List.of(words), StandardCharsets.UTF_8);
    Path output = tmp.resolve(model.getFileName() + "-embeddings");
    Result r = EncodeCommandTest.run(new byte[0], "predict", "--model", model.toString(), "--input",
        input.toString(), "--output", output.toString(), "--format", "json", "--batch-size", "1");
    assertEquals(0, r.code(), r.err());
    List<JsonNode> rows = new ArrayList<>();
    try (Stream<Path> parts = Files.list(output)) {
      for (Path part : parts.filter(p -> p.getFileName().toString().startsWith("part-")).sorted().toList()) {
        for (String line : Files.readAllLines(part)) {
          rows.add(new ObjectMapper().readTree(line));
        }
      }
    }
    double[][] embeddings = new double[words.length][];
    for (int i = 0; i < words.length; i++) {
      assertEquals(words[i], rows.get(i).path("text").asText());
      JsonNode vector = rows.get(i).path("embedding");
      embeddings[i] = new double[vector.size()];
      for (int j = 0; j < vector.size(); j++) {
        embeddings[i][j] = vector.get(j).asDouble();
      }
    }
    return embeddings;
  }

  private static double distance(double[] a, double[] b) {
    double sum = 0;
    for (int i = 0; i < a.length; i++) {
      sum += (a[i] - b[i]) * (a[i] - b[i]);
    }
    return Math.sqrt(sum);
  }

  private static JsonNode json(Path file) throws IOException {
    return new ObjectMapper().readTree(file.toFile());
  }
}
