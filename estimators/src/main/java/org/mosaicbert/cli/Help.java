package org.mosaicbert.cli;

import java.util.ArrayList;
import java.util.List;

/**
 * The one layout of every help text: lines of at most {@value #WIDTH} columns, broken only between words; prose
 * paragraphs flush left; each flag (or subcommand) in a column of its own, its doc beside it from column
 * {@value #DOC_COLUMN}. A subcommand writes its help as plain text ({@link Subcommand#help}) and {@link #layout}
 * lays it out, so however its source is wrapped, every help looks the same.
 */
final class Help {
  /** Where a flag's doc starts. */
  static final int DOC_COLUMN = 24;
  /** The widest line: a terminal of 100 columns shows every line whole. */
  static final int WIDTH = 100;

  private Help() {}

  /** One flag's lines: {@code flag} (with its value's name) and its doc, wrapped; on a line of its own when long. */
  static String flag(String flag, String doc) {
    String head = "  " + flag;
    StringBuilder out = new StringBuilder();
    StringBuilder line;
    if (head.length() + 2 > DOC_COLUMN) {
      out.append(head).append('\n');
      line = new StringBuilder(" ".repeat(DOC_COLUMN));
    } else {
      line = new StringBuilder(head).append(" ".repeat(DOC_COLUMN - head.length()));
    }
    wrap(doc, line, DOC_COLUMN, out);
    return out.toString();
  }

  /**
   * Lays out a help text. Its first block (up to the first blank line), the usage, is kept as written. After it, a
   * line that starts with two spaces and a word begins an entry: its head runs to the first gap of two or more
   * spaces, its doc is the rest with the more deeply indented lines after it (a head with no gap has its doc on
   * those lines). Other lines are prose: consecutive ones are one paragraph. Blank lines are kept.
   */
  static String layout(String text) {
    List<String> lines = List.of(text.split("\n", -1));
    StringBuilder out = new StringBuilder();
    int i = 0;
    while (i < lines.size() && !lines.get(i).isBlank()) {
      out.append(lines.get(i++)).append('\n');
    }
    while (i < lines.size()) {
      String line = lines.get(i);
      if (line.isBlank()) {
        out.append(i == lines.size() - 1 ? "" : "\n");
        i++;
      } else if (line.startsWith("  ") && !line.startsWith("   ")) {
        String entry = line.strip();
        int gap = entry.indexOf("  ");
        String head = gap < 0 ? entry : entry.substring(0, gap);
        StringBuilder doc = new StringBuilder(gap < 0 ? "" : entry.substring(gap).strip());
        for (i++; i < lines.size() && lines.get(i).startsWith("   ") && !lines.get(i).isBlank(); i++) {
          doc.append(doc.length() == 0 ? "" : " ").append(lines.get(i).strip());
        }
        out.append(doc.length() == 0 ? "  " + head + "\n" : flag(head, doc.toString()));
      } else {
        StringBuilder paragraph = new StringBuilder();
        for (; i < lines.size() && !lines.get(i).isBlank() && !lines.get(i).startsWith(" "); i++) {
          paragraph.append(paragraph.length() == 0 ? "" : " ").append(lines.get(i).strip());
        }
        if (paragraph.length() == 0) { // an indented line that is no entry: kept as written
          out.append(lines.get(i++)).append('\n');
          continue;
        }
        wrap(paragraph.toString(), new StringBuilder(), 0, out);
      }
    }
    return out.toString();
  }

  /** Appends {@code text}'s words to {@code line}, a new line indented by {@code indent} whenever one is full. */
  private static void wrap(String text, StringBuilder line, int indent, StringBuilder out) {
    boolean lineEmpty = true;
    for (String word : text.split(" +")) {
      if (!lineEmpty && line.length() + 1 + word.length() > WIDTH) {
        out.append(line).append('\n');
        line = new StringBuilder(" ".repeat(indent));
        lineEmpty = true;
      }
      line.append(lineEmpty ? "" : " ").append(word);
      lineEmpty = false;
    }
    out.append(line).append('\n');
  }
}
