package org.mosaicbert.notebooks;

import static org.junit.jupiter.api.Assertions.assertEquals;
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

/** A note as Spark's shell takes it: one file per runnable paragraph, pasted in order by one script. */
class SparkShellScriptTest {
  @TempDir Path tmp;

  private static ZeppelinNote note(String... texts) {
    ObjectMapper json = new ObjectMapper();
    var note = json.createObjectNode().put("name", "demo").put("defaultInterpreterGroup", "spark");
    var paragraphs = note.putArray("paragraphs");
    for (String text : texts) {
      boolean disabled = text.startsWith("!");
      var p = paragraphs.addObject().put("text", disabled ? text.substring(1) : text);
      p.putObject("config").put("enabled", !disabled);
    }
    return ZeppelinNote.parse(note, "demo.zpln");
  }

  @Test
  void eachRunnableParagraphIsAFilePastedInOrder() throws IOException {
    ZeppelinNote note = note("%md\n# Title", "%spark\nval n = spark.range(3)\n  .count()",
        "!%spark\nval skipped = 1", "%sql\nSELECT 'a\\\\b' AS x;\nSELECT \"q\" AS y\n", "val untagged = 2");
    Path folder = tmp.resolve("shell");
    Files.createDirectories(folder);
    Files.writeString(folder.resolve("paragraph-09.scala"), "left by an earlier note");

    Path script = SparkShellScript.write(note, folder);
    assertEquals(folder.resolve(SparkShellScript.SCRIPT), script);
    assertEquals(List.of(":paste " + folder.resolve("paragraph-02.scala"), ":paste " + folder.resolve(
        "paragraph-04.scala"), ":paste " + folder.resolve("paragraph-05.scala")), Files.readAllLines(script));
    try (Stream<Path> files = Files.list(folder)) {
      assertEquals(List.of("note.scala", "paragraph-02.scala", "paragraph-04.scala", "paragraph-05.scala"),
          files.map(f -> f.getFileName().toString()).sorted().toList(), "the earlier note's file is gone");
    }
    assertEquals("println(\"---- note 'demo', paragraph 2 (%spark)\")\nval n = spark.range(3)\n  .count()\n",
        Files.readString(folder.resolve("paragraph-02.scala")));
    assertEquals("println(\"---- note 'demo', paragraph 4 (%sql)\")\n"
        + "spark.sql(\"SELECT 'a\\\\\\\\b' AS x\").show(20, false)\n"
        + "spark.sql(\"SELECT \\\"q\\\" AS y\").show(20, false)\n",
        Files.readString(folder.resolve("paragraph-04.scala")));
  }

  @Test
  void aParagraphTheShellCannotRunIsNamed() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SparkShellScript.write(note("%spark\nval a = 1", "%pyspark\nprint(1)"), tmp));
    assertTrue(e.getMessage().contains("note 'demo', paragraph 2 (%pyspark)"), e.getMessage());
    IllegalArgumentException spaced = assertThrows(IllegalArgumentException.class,
        () -> SparkShellScript.write(note("%spark\nval a = 1"), tmp.resolve("with space")));
    assertTrue(spaced.getMessage().contains("has a space in its path"), spaced.getMessage());
  }
}
