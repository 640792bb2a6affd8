package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.cli.EncodeCommandTest.Result;
import org.mosaicbert.ml.ModelFolder;
import org.mosaicbert.testing.SharedTestData;

/**
 * What a command reads is what the user named, and bad input is refused naming the file and line: paths are not
 * globs (a model, an input and an output with brackets in their names), a ':' in a name is a character or a one-line
 * refusal, invalid UTF-8 and an unclosed CSV quote are refused as tokenize refuses them, an empty and a
 * whitespace-only line both get null outputs, and a vocab.txt longer than the model is refused by every command that
 * loads the model.
 */
class InputChecksTest {
  @TempDir static Path tmp;
  /** The legacy MLM fixture (vocab_size 128) copied under a name that is a glob matching nothing. */
  private static Path model;

  @BeforeAll
  static void copyModel() throws Exception {
    model = copyFolder(Path.of(InputChecksTest.class.getResource("/legacy-models/mlm-model").toURI()),
        tmp.resolve("model [1]"));
  }

  private static Path copyFolder(Path from, Path to) throws IOException {
    try (Stream<Path> files = Files.walk(from)) {
      for (Path f : files.toList()) {
        Path target = to.resolve(from.relativize(f).toString());
        if (Files.isDirectory(f)) {
          Files.createDirectories(target);
        } else {
          Files.copy(f, target);
        }
      }
    }
    return to;
  }

  private static Result predict(Path input, Path output, String... more) {
    List<String> args = new ArrayList<>(List.of("predict", "--model", model.toString(), "--input", input.toString(),
        "--output", output.toString(), "--format", "json"));
    args.addAll(List.of(more));
    return EncodeCommandTest.run(new byte[0], args.toArray(String[]::new));
  }

  /** The rows of a JSON output folder, in order. */
  private static List<JsonNode> rows(Path output) throws IOException {
    List<JsonNode> rows = new ArrayList<>();
    try (Stream<Path> parts = Files.list(output)) {
      for (Path part : parts.filter(p -> p.getFileName().toString().startsWith("part-")).sorted().toList()) {
        for (String line : Files.readAllLines(part)) {
          rows.add(new ObjectMapper().readTree(line));
        }
      }
    }
    return rows;
  }

  private static List<String> texts(Path output) throws IOException {
    return rows(output).stream().map(r -> r.path("text").asText()).toList();
  }

  @Test
  void anInputPathIsTheFileItNamesNotAGlob() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("globs"));
    Files.writeString(dir.resolve("data1.txt"), "plain one\n");
    Files.writeString(dir.resolve("data[1].txt"), "with brackets\n");
    Files.writeString(dir.resolve("q1.txt"), "q one\n");
    Files.writeString(dir.resolve("q?.txt"), "question mark\n");
    Files.writeString(dir.resolve("st*.txt"), "star\n");
    Files.writeString(dir.resolve("stuff.txt"), "stuff\n");
    Files.writeString(dir.resolve("a:b.txt"), "colon\n"); // listing this folder used to fail on it
    String[][] cases = {{"data[1].txt", "with brackets"}, {"q?.txt", "question mark"}, {"st*.txt", "star"}};
    for (String[] c : cases) {
      Path out = tmp.resolve("scored [" + c[0].charAt(0) + "]");
      Result r = predict(dir.resolve(c[0]), out);
      assertEquals(0, r.code(), c[0] + ": " + r.err());
      assertTrue(r.out().contains("(json, 1 rows)"), c[0] + ": " + r.out());
      assertEquals(List.of(c[1]), texts(out), c[0]);
    }
  }

  @Test
  void aColonInAFolderNameIsACharacterAndInAFileNameARefusalInOneSentence() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("c:d"));
    Files.writeString(dir.resolve("texts.txt"), "inside a folder with a colon\n");
    Result r = predict(dir.resolve("texts.txt"), tmp.resolve("colon-folder"));
    assertEquals(0, r.code(), r.err());
    assertEquals(List.of("inside a folder with a colon"), texts(tmp.resolve("colon-folder")));

    Path file = Files.writeString(tmp.resolve("e:f.txt"), "a colon in the name\n");
    r = predict(file, tmp.resolve("colon-file"));
    assertEquals(1, r.code());
    assertTrue(r.err().contains(file + ": Hadoop's local file system cannot read a file whose name holds ':'")
        && r.err().contains("rename the file"), r.err());
    assertFalse(r.err().contains("\tat "), "one sentence, no stack trace: " + r.err());
  }

  @Test
  void invalidUtf8IsRefusedNamingTheFileAndLine() throws IOException {
    byte[] bad = "good line\nanother\nbad \u00ff( line\n".getBytes(StandardCharsets.ISO_8859_1);
    for (String name : List.of("bad.txt", "bad.jsonl")) {
      Path file = tmp.resolve(name);
      Files.write(file, name.endsWith(".txt") ? bad
          : "{\"text\": \"good\"}\n{\"text\": \"bad \u00ff\"}\n".getBytes(StandardCharsets.ISO_8859_1));
      Result r = predict(file, tmp.resolve("scored-" + name));
      assertEquals(1, r.code(), name + ": " + r.out());
      String line = name.endsWith(".txt") ? " line 3" : " line 2";
      assertTrue(r.err().contains(file + line + ": invalid UTF-8; the --input must be UTF-8 text"), r.err());
      assertFalse(Files.exists(tmp.resolve("scored-" + name)));
    }
  }

  @Test
  void aCsvQuoteLeftOpenIsRefusedNamingTheLineItOpensOn() throws IOException {
    Path ok = tmp.resolve("ok.csv");
    Files.writeString(ok, "text,label\n\"a \"\"quoted\"\" word, and a comma\",1\n\"two\nlines\",0\n"
        + "plain 5\" screen,1\n");
    Result r = predict(ok, tmp.resolve("scored-ok"));
    assertEquals(0, r.code(), r.err());
    assertEquals(List.of("a \"quoted\" word, and a comma", "two\nlines", "plain 5\" screen"),
        texts(tmp.resolve("scored-ok")));

    Path open = tmp.resolve("open.csv");
    Files.writeString(open, "text,label\nfirst,1\n\"never closed,0\nthird,1\nfourth,0\n");
    r = predict(open, tmp.resolve("scored-open"));
    assertEquals(1, r.code(), r.out());
    assertTrue(r.err().contains(open + " line 3: a quoted field starts here and is never closed"), r.err());
  }

  @Test
  void anEmptyAndAWhitespaceOnlyLineBothGetNullOutputs() throws IOException {
    Path input = tmp.resolve("blank lines.txt");
    Files.writeString(input, "first text\n\n   \n\t \u00a0\nlast text\n");
    Path out = tmp.resolve("scored-blank");
    Result r = predict(input, out);
    assertEquals(0, r.code(), r.err());
    List<JsonNode> rows = rows(out);
    assertEquals(5, rows.size());
    for (int i = 0; i < rows.size(); i++) {
      boolean blank = i >= 1 && i <= 3;
      assertEquals(blank, rows.get(i).path("embedding").isMissingNode(), "row " + i + ": " + rows.get(i));
    }
  }

  @Test
  void aVocabularyLongerThanTheModelIsRefusedByPredictExportAndImport() throws IOException {
    Path longer = copyFolder(model, tmp.resolve("longer vocab"));
    Path vocab = longer.resolve(ModelFolder.VOCAB);
    Files.writeString(vocab, "extra\n", java.nio.file.StandardOpenOption.APPEND);
    String refusal = vocab + " has 129 lines, more than the model's vocab_size of 128 (config.json): line 129 on "
        + "would give ids past the embedding table";
    Path texts = Files.writeString(tmp.resolve("two texts.txt"), "one text\nanother text\n");
    Result r = EncodeCommandTest.run(new byte[0], "predict", "--model", longer.toString(), "--input",
        texts.toString(), "--output", tmp.resolve("scored-longer").toString());
    assertEquals(1, r.code(), r.out());
    assertTrue(r.err().contains(refusal), r.err());
    r = EncodeCommandTest.run(new byte[0], "export", "--model", longer.toString(), "--output",
        tmp.resolve("exported").toString());
    assertEquals(1, r.code(), r.out());
    assertTrue(r.err().contains(refusal), r.err());
    r = EncodeCommandTest.run(new byte[0], "import", "--hf", longer.toString(), "--output",
        tmp.resolve("imported").toString());
    assertEquals(1, r.code(), r.out());
    assertTrue(r.err().contains(refusal), r.err());
  }

  @Test
  void tokenizeRefusesAnOutputInsideItsInputFolder() throws IOException {
    Path corpus = Files.createDirectories(tmp.resolve("corpus"));
    Files.writeString(corpus.resolve("docs.txt"), "a document\nanother document\n");
    Result r = EncodeCommandTest.run(new byte[0], "tokenize", "--input", corpus.toString(), "--vocab",
        SharedTestData.vocabTxt().toString(), "--output", corpus.resolve("shards").toString());
    assertEquals(1, r.code(), r.out());
    assertTrue(r.err().contains("--output " + corpus.resolve("shards") + " is inside the input folder " + corpus),
        r.err());
    assertFalse(Files.exists(corpus.resolve("shards")));
  }
}
