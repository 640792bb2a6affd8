package org.mosaicbert.cli;

/** How help text lays out a flag: the flag in a column of its own, its doc wrapped at whole words beside it. */
final class Help {
  /** Where a flag's doc starts. */
  private static final int DOC_COLUMN = 24;
  /** The widest line. */
  private static final int WIDTH = 118;

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
    boolean lineEmpty = true;
    for (String word : doc.split(" ")) {
      if (!lineEmpty && line.length() + 1 + word.length() > WIDTH) {
        out.append(line).append('\n');
        line = new StringBuilder(" ".repeat(DOC_COLUMN));
        lineEmpty = true;
      }
      line.append(lineEmpty ? "" : " ").append(word);
      lineEmpty = false;
    }
    return out.append(line).append('\n').toString();
  }
}
