package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mosaicbert.train.Setting;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.cli.EncodeCommandTest.Result;
import org.mosaicbert.glue.GlueReader;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.testing.SharedTestData;

/** finetune and predict on real GLUE rows: a GLUE task, a CSV with string labels, text/CSV/JSON in and out. */
class FinetunePredictCommandTest {
  @TempDir static Path tmp;
  private static Path pretrained;

  @BeforeAll
  static void pretrain() {
    pretrained = tmp.resolve("pretrained");
    Result r = EncodeCommandTest.run(new byte[0], "pretrain", "--output", pretrained.toString(), "--max-steps", "2",
        "--batch", "8");
    assertEquals(0, r.code(), r.err());
  }

  @Test
  void finetunesAGlueTaskAndPrintsItsMetrics() throws IOException {
    Path out = tmp.resolve("rte");
    String[] finetune = {"finetune", "--model", pretrained.toString(), "--task", "RTE", "--train",
        SharedTestData.path("data/glue/RTE/train.tsv").toString(), "--eval",
        SharedTestData.path("data/glue/RTE/dev.tsv").toString(), "--output", out.toString(), "--max-steps", "3",
        "--batch", "8", "--max-seq-len", "32"};
    Result r = EncodeCommandTest.run(new byte[0], finetune);
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("model: " + out + " (classification, 2490 rows, 3 steps)"), r.out());
    assertTrue(r.out().matches("(?s).*accuracy on .*RTE/dev.tsv: 0\\.\\d{4}.*"), r.out());
    JsonNode args = new ObjectMapper().readTree(out.resolve("finetune_args.json").toFile());
    assertEquals(3e-5, args.path("lr").asDouble(), 0, "the fine-tuning default");
    assertEquals(32, args.path("maxSeqLen").asInt());
    assertTrue(Files.exists(out.resolve("model.safetensors")));
    assertEquals(128, new ObjectMapper().readTree(out.resolve("tokenizer_config.json").toFile())
        .path("model_max_length").asInt(), "the pretraining length (128), longer than the fine-tuning's 32");

    // The same command once the run is complete is refused, naming the ways on; --overwrite fine-tunes from --model
    // again (not from the model it replaces), so the weights are the first run's.
    Result again = EncodeCommandTest.run(new byte[0], finetune);
    assertEquals(1, again.code(), again.err());
    assertTrue(again.err().contains("--output " + out + " exists: the run that wrote it is complete. Give "
        + "--overwrite to fine-tune again from " + pretrained + " and replace it, or, to train that model further, "
        + "fine-tune from it (--model " + out + ") into another --output"), again.err());
    byte[] weights = Files.readAllBytes(out.resolve("model.safetensors"));
    String[] overwrite = java.util.Arrays.copyOf(finetune, finetune.length + 1);
    overwrite[finetune.length] = "--overwrite";
    Result over = EncodeCommandTest.run(new byte[0], overwrite);
    assertEquals(0, over.code(), over.err());
    org.junit.jupiter.api.Assertions.assertArrayEquals(weights, Files.readAllBytes(out.resolve("model.safetensors")));
  }

  @Test
  void finetunesOnACsvWithStringLabelsThenPredictsTextCsvAndJson() throws IOException {
    List<String> csv = new ArrayList<>(List.of("review,sentiment"));
    List<String> texts = new ArrayList<>();
    for (GlueReader.Example e : GlueReader.examples(GlueTask.named("SST-2"),
        SharedTestData.path("data/glue/SST-2/dev.tsv")).subList(0, 64)) {
      csv.add("\"" + e.text().strip().replace("\"", "\"\"") + "\"," + (e.label() == 1 ? "pos" : "neg"));
      texts.add(e.text().strip());
    }
    texts.add(5, "");
    Path train = tmp.resolve("reviews.csv");
    Files.write(train, csv, StandardCharsets.UTF_8);
    Path model = tmp.resolve("sentiment");
    Result r = EncodeCommandTest.run(new byte[0], "finetune", "--model", pretrained.toString(), "--train",
        train.toString(), "--eval", train.toString(), "--text-col", "review", "--label-col", "sentiment",
        "--output", model.toString(), "--max-steps", "2", "--batch", "16", "--max-seq-len", "32");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("f1 on " + train), r.out());
    JsonNode config = new ObjectMapper().readTree(model.resolve("config.json").toFile());
    assertEquals("neg", config.path("id2label").path("0").asText());
    assertEquals(1, config.path("label2id").path("pos").asInt());

    Path lines = tmp.resolve("reviews.txt");
    Files.write(lines, texts, StandardCharsets.UTF_8);
    Path scored = tmp.resolve("scored-json");
    r = EncodeCommandTest.run(new byte[0], "predict", "--model", model.toString(), "--input", lines.toString(),
        "--output", scored.toString(), "--format", "json", "--embedding", "pooled");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("(json, 65 rows)"), r.out());
    assertTrue(r.out().contains("predictedLabel counts: null: 1"), r.out());
    List<JsonNode> rows = readJsonLines(scored);
    assertEquals(65, rows.size());
    for (JsonNode row : rows) {
      if (row.path("text").asText().isEmpty()) {
        assertTrue(row.path("prediction").isMissingNode(), "no text, no prediction: " + row);
        continue;
      }
      assertEquals(row.path("prediction").asInt() == 0 ? "neg" : "pos", row.path("predictedLabel").asText());
      assertEquals(2, row.path("probability").size());
      assertEquals(128, row.path("embedding").size(), "the tiny preset's pooled output");
    }
    Result again = EncodeCommandTest.run(new byte[0], "predict", "--model", model.toString(), "--input",
        lines.toString(), "--output", scored.toString());
    assertEquals(1, again.code());
    assertTrue(again.err().contains("exists; give --overwrite"), again.err());

    Path csvOut = tmp.resolve("scored-csv");
    r = EncodeCommandTest.run(new byte[0], "predict", "--model", model.toString(), "--input", train.toString(),
        "--text-col", "review", "--output", csvOut.toString(), "--format", "csv");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("(csv, 64 rows)"), r.out());
    try (Stream<Path> files = Files.list(tmp)) {
      assertTrue(files.noneMatch(p -> p.getFileName().toString().contains(".tmp-")), "no temporary output left");
    }
  }

  @Test
  void predictAndBenchScoreAtEachPrecision() throws IOException {
    Path sentences = tmp.resolve("sst2-sentences.txt");
    Files.write(sentences, GlueReader.examples(GlueTask.named("SST-2"), SharedTestData.path("data/glue/SST-2/dev.tsv"))
        .subList(0, 40).stream().map(e -> e.text().strip()).toList(), StandardCharsets.UTF_8);
    List<List<JsonNode>> embeddings = new ArrayList<>();
    for (String precision : List.of("fp32", "int8")) {
      Path scored = tmp.resolve("scored-" + precision);
      Result r = EncodeCommandTest.run(new byte[0], "predict", "--model", pretrained.toString(), "--input",
          sentences.toString(), "--output", scored.toString(), "--format", "json", "--precision", precision);
      assertEquals(0, r.code(), r.err());
      embeddings.add(readJsonLines(scored).stream().map(row -> row.path("embedding")).toList());
    }
    for (int i = 0; i < 40; i++) {
      double dot = 0;
      double a = 0;
      double b = 0;
      for (int c = 0; c < embeddings.get(0).get(i).size(); c++) {
        double x = embeddings.get(0).get(i).get(c).asDouble();
        double y = embeddings.get(1).get(i).get(c).asDouble();
        dot += x * y;
        a += x * x;
        b += y * y;
      }
      double cosine = dot / Math.sqrt(a * b);
      assertTrue(cosine > 0.99 && cosine < 1, "row " + i + ": int8's embedding, cosine " + cosine + " to fp32's");
    }
    Result r = EncodeCommandTest.run(new byte[0], "predict", "--model", pretrained.toString(), "--input",
        sentences.toString(), "--output", tmp.resolve("w").toString(), "--precision", "int4");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("--precision") && r.err().contains("int4"), r.err());

    r = EncodeCommandTest.run(new byte[0], "bench", "--precisions", "--model", pretrained.toString(), "--input",
        sentences.toString(), "--rows", "30");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("30 rows; each precision beside fp32"), r.out());
    for (String precision : List.of("fp32", "bf16", "int8")) {
      java.util.regex.Matcher m = java.util.regex.Pattern.compile(precision + "\\s+embeddings' cosine to fp32: min "
          + "([0-9.]+), mean ([0-9.]+)").matcher(r.out());
      assertTrue(m.find(), r.out());
      assertTrue(Double.parseDouble(m.group(1)) > (precision.equals("int8") ? 0.99 : 0.999), r.out());
    }
  }

  /** The rows of a JSON output folder, its part files in name order. */
  private static List<JsonNode> readJsonLines(Path folder) throws IOException {
    List<JsonNode> rows = new ArrayList<>();
    try (Stream<Path> parts = Files.list(folder)) {
      for (Path part : parts.filter(p -> p.getFileName().toString().startsWith("part-")).sorted().toList()) {
        for (String line : Files.readAllLines(part)) {
          rows.add(new ObjectMapper().readTree(line));
        }
      }
    }
    return rows;
  }

  @Test
  void badInputsAreNamed() throws IOException {
    Path recipe = tmp.resolve("bad-lr.yaml");
    Files.writeString(recipe, "optimizer:\n  lr: -1\n");
    Result r = EncodeCommandTest.run(new byte[0], "finetune", "--model", pretrained.toString(), "--task", "RTE",
        "--train", SharedTestData.path("data/glue/RTE/train.tsv").toString(), "--output",
        tmp.resolve("x").toString(), "--recipe", recipe.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("bad-lr.yaml: optimizer.lr = -1 must be above 0"), r.err());
    r = EncodeCommandTest.run(new byte[0], "predict", "--model", pretrained.toString(), "--input",
        SharedTestData.path("data/glue/SST-2/dev.tsv").toString(), "--task", "SST-2", "--text-col", "sentence",
        "--output", tmp.resolve("y").toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains("has no column 'sentence' (--text-col)"), r.err());
    r = EncodeCommandTest.run(new byte[0], "predict", "--model", pretrained.toString(), "--input",
        tmp.resolve("missing.csv").toString(), "--output", tmp.resolve("z").toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains("missing.csv does not exist"), r.err());
    Path numbers = tmp.resolve("numbers.jsonl");
    Files.writeString(numbers, "{\"text\": 42}\n{\"text\": {\"a\": 1}}\n");
    r = EncodeCommandTest.run(new byte[0], "predict", "--model", pretrained.toString(), "--input",
        numbers.toString(), "--output", tmp.resolve("w").toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains("2 record(s) give column 'text' (--text-col) a number, object or array"), r.err());
    Files.writeString(numbers, "{\"text\": 42}\n{\"text\": 7}\n");
    r = EncodeCommandTest.run(new byte[0], "predict", "--model", pretrained.toString(), "--input",
        numbers.toString(), "--output", tmp.resolve("w").toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains("column 'text' (--text-col) holds bigint values, not text"), r.err());
  }

  @Test
  void everyRecipeInConfParses() throws IOException {
    try (Stream<Path> files = Files.list(Path.of(System.getProperty("mosaicbert.repo.dir"), "conf"))) {
      List<Path> recipes = files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
      assertTrue(recipes.size() >= 5, recipes.toString());
      for (Path recipe : recipes) {
        boolean glue = recipe.getFileName().toString().startsWith("glue");
        Set<String> keys = new java.util.HashSet<>(RunSettings.recipeKeys(glue ? Setting.Run.GLUE
            : Setting.Run.PRETRAINING));
        keys.add("seeds");
        Recipe read = Recipe.read(recipe, keys, glue);
        assertTrue(!read.values().isEmpty(), recipe.toString());
        for (String task : glue ? List.of("SST-2", "CoLA", "MRPC", "STS-B", "RTE") : List.<String>of()) {
          assertTrue(read.values().keySet().stream().anyMatch(k -> k.startsWith("tasks." + task + ".")), recipe
              + " has a section for " + task);
        }
      }
    }
  }
}
