package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OutputsTest {
  @TempDir Path tmp;
  private final Configuration conf = new Configuration();

  private String refused(String output, boolean overwrite, String... inputs) {
    return assertThrows(IllegalArgumentException.class,
        () -> Outputs.check(output, "--output", overwrite, conf, inputs)).getMessage();
  }

  @Test
  void anOutputThatIsOrHoldsAnInputIsRefusedEvenWithOverwrite() throws IOException {
    Path data = Files.createDirectories(tmp.resolve("data dir"));
    Files.writeString(data.resolve("in.txt"), "text\n");
    assertTrue(refused(data.toString(), true, data.toString()).contains("is the input"));
    assertTrue(refused(data.toString(), true, data.resolve("in.txt").toString()).contains("contains the input"));
    assertTrue(refused(tmp.toString(), true, data.resolve("in.txt").toString()).contains("contains the input"),
        "an output above the input");
    Outputs.check(data.resolve("out").toString(), "--output", false, conf, data.resolve("in.txt").toString());
  }

  @Test
  void anOutputInsideAnInputFolderIsRefused() throws IOException {
    Path corpus = Files.createDirectories(tmp.resolve("corpus"));
    Files.writeString(corpus.resolve("docs.txt"), "text\n");
    String message = refused(corpus.resolve("shards").toString(), true, corpus.toString());
    assertTrue(message.equals("--output " + corpus.resolve("shards") + " is inside the input folder " + corpus
        + ": a later run would read the output as input; choose another --output outside it"), message);
    assertTrue(refused(corpus.resolve("a/b").toString(), false, corpus.toString()).contains("inside the input folder"));
    Outputs.check(tmp.resolve("shards").toString(), "--output", false, conf, corpus.toString());
  }

  @Test
  void anExistingOutputNeedsOverwriteAndAnUnwritablePlaceIsNamed() throws IOException {
    Path existing = Files.createDirectories(tmp.resolve("model"));
    assertTrue(refused(existing.toString(), false).contains("give --overwrite"));
    Outputs.check(existing.toString(), "--output", true, conf);
    Path file = Files.writeString(tmp.resolve("a file"), "x");
    String message = refused(file.resolve("out").toString(), false);
    assertTrue(message.contains("cannot write in") && message.contains("a file"), message);
    try (var files = Files.list(tmp)) {
      assertTrue(files.noneMatch(p -> p.getFileName().toString().contains(".probe-")), "no probe left behind");
    }
  }
}
