package org.mosaicbert.notebooks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Zeppelin note ({@code .zpln}, the JSON that Zeppelin 0.9 and later saves): its name and its paragraphs, each
 * with the interpreter named by its leading tag ({@code %spark}, {@code %sql}, {@code %md}, ...). A paragraph
 * without a tag goes to the note's default interpreter group, as in Zeppelin. Read by {@link SparkShellScript}, which
 * turns a note into input for Spark's shell, and by the test that runs every note.
 */
public record ZeppelinNote(String name, List<Paragraph> paragraphs) {
  /** A tag is {@code %name} with optional local properties, {@code %spark.sql(key=value)}, then whitespace. */
  private static final Pattern TAG = Pattern.compile("^\\s*%([\\w.]+)(\\([^)]*\\))?(\\s|$)");
  /** Statements of a {@code %sql} paragraph end with a semicolon at the end of a line. */
  private static final Pattern STATEMENT_END = Pattern.compile("(?m);\\s*$");

  /**
   * @param index 1-based, as a reader counts paragraphs in the note
   * @param interpreter the tag without {@code %}, e.g. {@code spark}, {@code spark.sql}, {@code md}
   * @param code the text after the tag
   * @param enabled false when the paragraph is disabled (Zeppelin's "run all" skips it)
   */
  public record Paragraph(int index, String title, String interpreter, String code, boolean enabled) {
    /** How a message names the paragraph. */
    public String label() {
      return "paragraph " + index + (title.isEmpty() ? "" : " '" + title + "'") + " (%" + interpreter + ")";
    }

    /** Scala, for Spark's Scala interpreter ({@code %spark}). */
    public boolean isScala() {
      return interpreter.equals("spark") || interpreter.equals("spark.spark");
    }

    /** SQL, for {@code spark.sql} ({@code %sql}). */
    public boolean isSql() {
      return interpreter.equals("sql") || interpreter.equals("spark.sql");
    }

    /** Markdown ({@code %md}): only rendered, nothing to run. */
    public boolean isMarkdown() {
      return interpreter.equals("md") || interpreter.equals("markdown");
    }

    /** The statements of a {@code %sql} paragraph, as Zeppelin splits them: at a semicolon ending a line. */
    public List<String> sqlStatements() {
      return STATEMENT_END.splitAsStream(code).filter(s -> !s.isBlank()).toList();
    }
  }

  public static ZeppelinNote read(Path file) throws IOException {
    return parse(new ObjectMapper().readTree(file.toFile()), file.getFileName().toString());
  }

  public static ZeppelinNote parse(JsonNode json, String fallbackName) {
    String defaultInterpreter = json.path("defaultInterpreterGroup").asText("spark");
    List<Paragraph> paragraphs = new ArrayList<>();
    for (JsonNode p : json.path("paragraphs")) {
      String text = p.path("text").asText("");
      Matcher tag = TAG.matcher(text);
      boolean tagged = tag.find();
      paragraphs.add(new Paragraph(paragraphs.size() + 1, p.path("title").asText(""),
          tagged ? tag.group(1) : defaultInterpreter, tagged ? text.substring(tag.end()) : text,
          p.path("config").path("enabled").asBoolean(true)));
    }
    return new ZeppelinNote(json.path("name").asText(fallbackName), paragraphs);
  }
}
