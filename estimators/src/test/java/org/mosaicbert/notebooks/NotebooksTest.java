package org.mosaicbert.notebooks;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.mosaicbert.testing.SharedTestData;

/**
 * Every Zeppelin note under {@code notebooks/} runs, paragraph by paragraph, as Zeppelin's Spark interpreter would
 * run it ({@link ZeppelinNoteRunner}), so the notes cannot rot as the API changes. Each note gets its own Spark
 * session and REPL and a fresh work folder, which it reads from the {@code mosaicbert.notebooks.work} property (its
 * first paragraph says so). Notes that use {@code sharedData} (GLUE files, the BERT vocabulary) read it from
 * {@code mosaicbert.shared.dir} and skip when the shared data is absent.
 */
class NotebooksTest {
  @TempDir Path tmp;

  static Path notebooksDir() {
    String dir = System.getProperty("mosaicbert.notebooks.dir");
    if (dir == null) {
      throw new IllegalStateException("mosaicbert.notebooks.dir is not set: run the tests through Maven (mvn test), "
          + "whose estimators POM points it at notebooks/");
    }
    return Path.of(dir).normalize();
  }

  static Stream<String> notes() throws IOException {
    try (Stream<Path> files = Files.list(notebooksDir())) {
      List<String> names = files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".zpln")).sorted()
          .toList();
      assertFalse(names.isEmpty(), "no .zpln notes in " + notebooksDir());
      return names.stream();
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("notes")
  void noteRunsFromTopToBottom(String name) throws IOException {
    ZeppelinNote note = ZeppelinNote.read(notebooksDir().resolve(name));
    if (note.paragraphs().stream().anyMatch(p -> p.code().contains("sharedData"))) {
      SharedTestData.path("data"); // skips, saying why, when the shared data is absent
    }
    String previous = System.setProperty("mosaicbert.notebooks.work", tmp.resolve("work").toString());
    long start = System.nanoTime();
    try (ZeppelinNoteRunner runner = new ZeppelinNoteRunner(Files.createDirectory(tmp.resolve("classes")))) {
      System.out.printf("note '%s' (%s): Spark session and REPL up in %.1f s%n", note.name(), name,
          (System.nanoTime() - start) / 1e9);
      runner.run(note);
    } finally {
      restore("mosaicbert.notebooks.work", previous);
    }
    System.out.printf("note '%s' (%s) ran in %.1f s%n", note.name(), name, (System.nanoTime() - start) / 1e9);
  }

  private static void restore(String key, String value) {
    if (value == null) {
      System.clearProperty(key);
    } else {
      System.setProperty(key, value);
    }
  }

  /**
   * The guard itself: a compile error, an exception, a printed stack trace, an empty or failing query and an
   * interpreter the test cannot run each fail the run, naming the paragraph.
   */
  @Test
  void aBrokenParagraphFailsTheRunAndIsNamed() throws IOException {
    try (ZeppelinNoteRunner runner = new ZeppelinNoteRunner(Files.createDirectory(tmp.resolve("classes")))) {
      AssertionError compile = assertThrows(AssertionError.class, () -> runner.run(note(
          "%md\n# fine", "%spark\nval answer = 42", "%spark\nval broken: Int = \"not a number\"")));
      assertTrue(compile.getMessage().contains("note 'broken', paragraph 3 (%spark)")
          && compile.getMessage().contains("type mismatch"), compile.getMessage());

      AssertionError thrown = assertThrows(AssertionError.class, () -> runner.run(note(
          "%spark\nspark.range(3).createOrReplaceTempView(\"three\")",
          "%spark\nrequire(spark.table(\"three\").count() == 4, \"there are three rows\")")));
      assertTrue(thrown.getMessage().contains("paragraph 2 (%spark)")
          && thrown.getMessage().contains("there are three rows"), thrown.getMessage());

      AssertionError caught = assertThrows(AssertionError.class, () -> runner.run(note(
          "%spark\ntry { spark.table(\"no_such_view\") } catch { case e: Exception => e.printStackTrace(Console.out) }")));
      assertTrue(caught.getMessage().contains("stack trace"), caught.getMessage());

      AssertionError sql = assertThrows(AssertionError.class, () -> runner.run(note(
          "%sql\nSELECT id FROM three WHERE id > 10")));
      assertTrue(sql.getMessage().contains("paragraph 1 (%sql): the query returned no rows"), sql.getMessage());

      AssertionError missing = assertThrows(AssertionError.class, () -> runner.run(note(
          "%sql\nSELECT * FROM no_such_view")));
      assertTrue(missing.getMessage().contains("no_such_view"), missing.getMessage());

      AssertionError unknown = assertThrows(AssertionError.class, () -> runner.run(note("%pyspark\nprint(1)")));
      assertTrue(unknown.getMessage().contains("%pyspark"), unknown.getMessage());
    }
  }

  /** A note named 'broken' with the given paragraph texts, as Zeppelin would save it. */
  private static ZeppelinNote note(String... texts) {
    ObjectMapper json = new ObjectMapper();
    var note = json.createObjectNode().put("name", "broken").put("defaultInterpreterGroup", "spark");
    var paragraphs = note.putArray("paragraphs");
    for (String text : texts) {
      paragraphs.addObject().put("text", text).putObject("config").put("enabled", true);
    }
    return ZeppelinNote.parse(note, "broken.zpln");
  }
}
