package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every help text in one layout: lines within the width, broken between words, flags' docs in one column. */
class HelpTest {
  private static String help(String... args) {
    EncodeCommandTest.Result r = EncodeCommandTest.run(new byte[0], args);
    assertEquals(0, r.code(), r.err());
    return r.out();
  }

  private static List<String> everyHelp() {
    List<String> helps = new ArrayList<>(List.of(help("--help")));
    Main.SUBCOMMANDS.forEach(c -> helps.add(help(c.name(), "--help")));
    return helps;
  }

  @Test
  void layoutJoinsProseWrapsItBetweenWordsAndPutsEveryDocInOneColumn() {
    String written = """
        usage: mosaicbert demo --in FILE   (this line is kept as written, however long it is, since it is the usage)

        A paragraph whose source broke a sentence
        mid-line. It is joined and wrapped again at whole words, never past the width of the help text, which is
        one hundred columns.

          --in FILE     read this
          --a-much-longer-flag VALUE  its doc starts on a line of its own, in the same column as every doc,
                  and its continuation lines join it
          --alone
                  a flag whose source has its doc on the next line
        """;
    String expected = """
        usage: mosaicbert demo --in FILE   (this line is kept as written, however long it is, since it is the usage)

        A paragraph whose source broke a sentence mid-line. It is joined and wrapped again at whole words,
        never past the width of the help text, which is one hundred columns.

          --in FILE             read this
          --a-much-longer-flag VALUE
                                its doc starts on a line of its own, in the same column as every doc, and
                                its continuation lines join it
          --alone               a flag whose source has its doc on the next line
        """;
    assertEquals(expected, Help.layout(written));
    assertEquals(expected, Help.layout(expected), "laying out a laid-out text changes nothing");
  }

  @Test
  void everyHelpLineFitsTheWidthAndNoWordIsBroken() {
    for (Subcommand c : Main.SUBCOMMANDS) {
      String shown = help(c.name(), "--help");
      for (String line : shown.split("\n")) {
        assertTrue(line.length() <= Help.WIDTH, c.name() + " --help has a line of " + line.length() + " columns:\n"
            + line);
      }
      assertEquals(c.help().replaceAll("\\s+", " ").strip(), shown.replaceAll("\\s+", " ").strip(),
          c.name() + " --help shows every word of its text, whole, in its order");
    }
    for (String line : help("--help").split("\n")) {
      assertTrue(line.length() <= Help.WIDTH, line);
    }
  }

  /** The flags a subcommand declares itself and the training settings' flags it shares line up alike everywhere. */
  @Test
  void everyFlagIsIndentedAlikeAndItsDocStartsInTheSameColumn() {
    String docIndent = " ".repeat(Help.DOC_COLUMN);
    for (String help : everyHelp()) {
      String[] lines = help.split("\n");
      int entries = 0;
      for (int i = 0; i < lines.length; i++) {
        String line = lines[i];
        if (!line.matches("  \\S.*")) { // an entry (a flag, a subcommand) starts at column 2; nothing else does
          continue;
        }
        entries++;
        boolean docBeside = line.length() > Help.DOC_COLUMN && line.substring(0, Help.DOC_COLUMN).endsWith("  ")
            && line.charAt(Help.DOC_COLUMN) != ' ';
        boolean docBelow = !line.strip().contains("  ") && i + 1 < lines.length
            && lines[i + 1].startsWith(docIndent) && lines[i + 1].charAt(Help.DOC_COLUMN) != ' ';
        assertTrue(docBeside || docBelow, "the doc of an entry starts at column " + Help.DOC_COLUMN + ", beside it "
            + "or on the next line:\n" + line + "\n" + help);
      }
      assertTrue(entries > 0, help);
    }
    List<String> trainingFlags = new ArrayList<>();
    for (String command : List.of("pretrain", "finetune", "glue")) {
      String help = help(command, "--help");
      String lr = help.lines().filter(l -> l.startsWith("  --lr ")).findFirst().orElseThrow();
      trainingFlags.add(lr.substring(0, Help.DOC_COLUMN));
    }
    assertEquals(1, trainingFlags.stream().distinct().count(), "--lr alike in pretrain, finetune and glue: "
        + trainingFlags);
  }

  @Test
  void pretrainHelpSaysWhereTheLossCurveGoes() {
    String help = help("pretrain", "--help").replaceAll("\\s+", " ");
    assertTrue(help.contains("loss.png"), help);
    assertTrue(help.contains("metrics.jsonl and loss.png go to DIR.checkpoints"), help);
  }
}
