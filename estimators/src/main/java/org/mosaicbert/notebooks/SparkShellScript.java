package org.mosaicbert.notebooks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A Zeppelin note as input for Spark's Scala shell, so that its paragraphs run there as in Zeppelin
 * ({@code scripts/cluster.sh shell --notebook NOTE.zpln}): each enabled {@code %spark} paragraph becomes a file of its
 * own, each {@code %sql} paragraph a file of {@code spark.sql(...).show(...)} calls, one per statement, and the script
 * {@value #SCRIPT} pastes them in order ({@code :paste FILE}: a paragraph compiles as one unit, as Zeppelin compiles
 * it, not line by line, where a line starting with {@code .setLr(...)} would not continue the one before it).
 * {@code %md} paragraphs are only rendered in Zeppelin, so they are left out. Each file first prints which paragraph
 * it is.
 *
 * <p>{@code java org.mosaicbert.notebooks.SparkShellScript NOTE.zpln FOLDER} writes them into FOLDER (replacing those
 * of an earlier call) and prints the script's path, for the shell's {@code -I SCRIPT} or its {@code :load SCRIPT}.
 */
public final class SparkShellScript {
  /** The script that pastes the paragraphs' files in order. */
  public static final String SCRIPT = "note.scala";
  private static final String PARAGRAPH_FILES = "paragraph-*.scala";

  private SparkShellScript() {}

  public static void main(String[] args) throws IOException {
    if (args.length != 2) {
      System.err.println("usage: java " + SparkShellScript.class.getName() + " NOTE.zpln FOLDER");
      System.exit(2);
    }
    try {
      System.out.println(write(ZeppelinNote.read(Path.of(args[0])), Path.of(args[1])));
    } catch (IllegalArgumentException e) {
      System.err.println(args[0] + ": " + e.getMessage());
      System.exit(1);
    }
  }

  /** Writes the note's files into {@code folder} and returns the script's path. */
  static Path write(ZeppelinNote note, Path folder) throws IOException {
    Path dir = folder.toAbsolutePath().normalize();
    if (dir.toString().chars().anyMatch(Character::isWhitespace)) {
      // The shell's :paste reads its file's path up to the first space.
      throw new IllegalArgumentException("the folder " + dir + " has a space in its path, which the Scala shell's "
          + ":paste cannot read; choose one without");
    }
    Files.createDirectories(dir);
    try (DirectoryStream<Path> earlier = Files.newDirectoryStream(dir, PARAGRAPH_FILES)) {
      for (Path file : earlier) {
        Files.delete(file);
      }
    }
    List<String> script = new ArrayList<>();
    for (ZeppelinNote.Paragraph p : note.paragraphs()) {
      if (!p.enabled() || p.isMarkdown()) {
        continue;
      }
      String code;
      if (p.isScala()) {
        code = p.code();
      } else if (p.isSql()) {
        StringBuilder calls = new StringBuilder();
        for (String statement : p.sqlStatements()) {
          calls.append("spark.sql(").append(scalaString(statement.strip())).append(").show(20, false)\n");
        }
        code = calls.toString();
      } else {
        throw new IllegalArgumentException("note '" + note.name() + "', " + p.label() + ": Spark's Scala shell runs "
            + "%spark, %sql and %md paragraphs only");
      }
      Path file = dir.resolve(String.format("paragraph-%02d.scala", p.index()));
      String header = "println(" + scalaString("---- note '" + note.name() + "', " + p.label()) + ")\n";
      Files.writeString(file, header + code + (code.endsWith("\n") ? "" : "\n"), StandardCharsets.UTF_8);
      script.add(":paste " + file);
    }
    Path scriptFile = dir.resolve(SCRIPT);
    Files.write(scriptFile, script, StandardCharsets.UTF_8);
    return scriptFile;
  }

  /** {@code text} as a Scala string literal. */
  static String scalaString(String text) {
    StringBuilder s = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      switch (c) {
        case '\\' -> s.append("\\\\");
        case '"' -> s.append("\\\"");
        case '\n' -> s.append("\\n");
        case '\r' -> s.append("\\r");
        case '\t' -> s.append("\\t");
        default -> s.append(c);
      }
    }
    return s.append('"').toString();
  }
}
