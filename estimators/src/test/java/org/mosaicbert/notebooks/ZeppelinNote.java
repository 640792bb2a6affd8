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
 * without a tag goes to the note's default interpreter group, as in Zeppelin.
 */
record ZeppelinNote(String name, List<Paragraph> paragraphs) {
  /** A tag is {@code %name} with optional local properties, {@code %spark.sql(key=value)}, then whitespace. */
  private static final Pattern TAG = Pattern.compile("^\\s*%([\\w.]+)(\\([^)]*\\))?(\\s|$)");

  /**
   * @param index 1-based, as a reader counts paragraphs in the note
   * @param interpreter the tag without {@code %}, e.g. {@code spark}, {@code spark.sql}, {@code md}
   * @param code the text after the tag
   * @param enabled false when the paragraph is disabled (Zeppelin's "run all" skips it)
   */
  record Paragraph(int index, String title, String interpreter, String code, boolean enabled) {
    /** How a failure message names the paragraph. */
    String label() {
      return "paragraph " + index + (title.isEmpty() ? "" : " '" + title + "'") + " (%" + interpreter + ")";
    }
  }

  static ZeppelinNote read(Path file) throws IOException {
    return parse(new ObjectMapper().readTree(file.toFile()), file.getFileName().toString());
  }

  static ZeppelinNote parse(JsonNode json, String fallbackName) {
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
