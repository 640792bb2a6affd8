package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.cli.EncodeCommandTest.Result;

/**
 * A run owns its output for its whole life: a second run on the same output is refused at once, naming the first;
 * the run after a killed one takes its stale lock over and removes what it left beside the output.
 */
class OutputOwnershipTest {
  @TempDir Path tmp;

  /** The lock file another run wrote beside {@code output}, on another machine, its last heartbeat at {@code beat}. */
  private static Path plantLock(Path output, Instant beat) throws IOException {
    Path lock = output.resolveSibling("." + output.getFileName() + ".lock");
    Files.writeString(lock, "{\"what\":\"mosaicbert pretrain\",\"host\":\"another-machine\",\"pid\":4242,"
        + "\"since\":\"" + beat.minusSeconds(600) + "\",\"heartbeat\":\"" + beat + "\",\"token\":\"planted\"}\n");
    return lock;
  }

  private Path model() throws Exception {
    return Path.of(getClass().getResource("/legacy-models/mlm-model").toURI());
  }

  @Test
  void aSecondRunOnTheSameOutputIsRefusedAtOnceNamingTheRunningOne() throws Exception {
    Path hf = tmp.resolve("hf");
    plantLock(hf, Instant.now());
    Result export = EncodeCommandTest.run(new byte[0], "export", "--model", model().toString(), "--output",
        hf.toString());
    assertEquals(1, export.code(), export.err());
    assertTrue(export.err().contains("--output " + hf + " is in use by mosaicbert pretrain on another-machine (pid "
        + "4242), running since ") && export.err().contains("give another --output"), export.err());
    assertTrue(Files.notExists(hf), "nothing written");

    Path input = Files.writeString(tmp.resolve("texts.txt"), "a line to score\n");
    Path scored = tmp.resolve("scored");
    plantLock(scored, Instant.now());
    Result predict = EncodeCommandTest.run(new byte[0], "predict", "--model", model().toString(), "--input",
        input.toString(), "--output", scored.toString());
    assertEquals(1, predict.code(), predict.err());
    assertTrue(predict.err().contains("predict: --output " + scored + " is in use by mosaicbert pretrain on "
        + "another-machine (pid 4242)"), predict.err());
    assertTrue(!predict.err().contains("\tat "), "one line, no stack trace: " + predict.err());
    assertTrue(Files.notExists(scored), "nothing written");
  }

  /**
   * A run killed during its final save (kill -9) left its lock, its heartbeat now stale, and the temporary siblings
   * it was writing: the next run of the same output takes the lock over and removes them, and nothing of any other
   * output.
   */
  @Test
  void theRunAfterAKilledOneRemovesWhatItLeftOfTheSameOutputAndNothingElse() throws Exception {
    Path hf = tmp.resolve("hf");
    List<Path> leftovers = List.of(tmp.resolve(".hf.tmp-8031794511954447512"),
        tmp.resolve("..hf.tmp-77.tmp-0b8c6f0e-1d7b-4d7e-9a31-5e8f2b1c9d40"), tmp.resolve(".hf.probe-5e8f2b1c"));
    List<Path> others = List.of(tmp.resolve(".hf2.tmp-1"), tmp.resolve(".scored.tmp-2"));
    for (Path p : leftovers) {
      Files.createDirectories(p);
      Files.writeString(p.resolve("model.safetensors"), "half written");
    }
    for (Path p : others) {
      Files.createDirectories(p);
    }
    Path lock = plantLock(hf, Instant.now().minusSeconds(60));
    Result export = EncodeCommandTest.run(new byte[0], "export", "--model", model().toString(), "--output",
        hf.toString());
    assertEquals(0, export.code(), export.err());
    assertTrue(Files.exists(hf.resolve("model.safetensors")));
    for (Path p : leftovers) {
      assertTrue(Files.notExists(p), p + " is left");
    }
    for (Path p : others) {
      assertTrue(Files.exists(p), p + " is another output's");
    }
    assertTrue(Files.notExists(lock), "the stale lock was taken over, then released");
  }
}
