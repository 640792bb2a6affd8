package org.mosaicbert.data;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The line-based input check: the first line with bytes that are not UTF-8, or the line of an unclosed CSV quote. */
class TextFileCheckTest {
  @TempDir Path tmp;
  private final HadoopConf conf = HadoopConf.of(new Configuration());

  private String problem(String name, byte[] content, boolean csv) throws IOException {
    Path file = tmp.resolve(name);
    Files.write(file, content);
    return TextFileCheck.firstProblem(file.toString(), conf, csv);
  }

  private String csv(String content) throws IOException {
    return problem("t.csv", content.getBytes(StandardCharsets.UTF_8), true);
  }

  @Test
  void theFirstLineWithInvalidUtf8IsNamed() throws IOException {
    byte[] bytes = {'o', 'k', '\n', 'c', 'a', 'f', (byte) 0xC3, (byte) 0xA9, '\n', 'b', 'a', 'd', (byte) 0xE2,
        (byte) 0x82, '\n', (byte) 0xFF, '\n'};
    assertEquals(tmp.resolve("t.txt") + " line 3: invalid UTF-8; the input must be UTF-8 text",
        problem("t.txt", bytes, false));
    assertEquals("", problem("u.txt", "caf\u00e9 \ud83d\ude00\r\n\n".getBytes(StandardCharsets.UTF_8), false));
  }

  @Test
  void closedCsvQuotesPassWhateverTheyHold() throws IOException {
    assertEquals("", csv("text,label\n\"a, b\",1\n\"two\r\nlines\",0\r\n\"\"\"quoted\"\" start\",1\n"));
    assertEquals("", csv("text,label\n\"ends in a quote \"\"\",1\n5\" screen,0\n\"\",1\n"));
    assertEquals("", csv("text,label\n\"spans\n\"\"\n\"\"three\",1\n"), "a doubled quote at a line's start");
  }

  @Test
  void anUnclosedQuoteIsNamedByTheLineItOpensOn() throws IOException {
    assertEquals(tmp.resolve("t.csv") + " line 2: a quoted field starts here and is never closed, so every later "
        + "line would be read into it; close the quote (a quote inside a quoted field is written twice: \"\")",
        csv("text,label\n\"open,1\nmore,0\n"));
    assertEquals(tmp.resolve("t.csv") + " line 5: a quoted field starts here and is never closed, so every later "
        + "line would be read into it; close the quote (a quote inside a quoted field is written twice: \"\")",
        csv("text,label\n\"closed\nlater\",1\nplain,\"x\"\"\"\nlast,\"open \"\"\n"));
    assertEquals("", problem("t.txt", "\"open\n".getBytes(StandardCharsets.UTF_8), false), "only CSV has quotes");
  }
}
