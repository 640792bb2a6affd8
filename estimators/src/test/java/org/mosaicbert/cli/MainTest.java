package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class MainTest {
  /** A subcommand that fails the way a full disk does through Hadoop: with an Error, not an Exception. */
  private static final class FailsWithAnError implements Subcommand {
    @Override
    public String name() {
      return "fails";
    }

    @Override
    public String summary() {
      return "fails";
    }

    @Override
    public String help() {
      return "fails";
    }

    @Override
    public int run(String[] args, InputStream in, PrintStream out) {
      throw new java.io.IOError(new java.io.IOException("No space left on device: /mnt/full/model.safetensors"));
    }
  }

  @Test
  void anErrorEndsTheCommandWithExitCode1AndItsMessage() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = Main.run(new FailsWithAnError(), new String[0], new ByteArrayInputStream(new byte[0]),
        new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(1, code);
    String text = err.toString(StandardCharsets.UTF_8);
    assertTrue(text.contains("fails failed") && text.contains("/mnt/full/model.safetensors"), text);
  }

  /** The library names params; the command line adds the flags of those it names, where the subcommand has them. */
  @Test
  void aLibraryErrorNamingParamsGetsTheirFlagsOnTheCommandLine() {
    String pretrain = new PretrainCommand().help();
    assertEquals(" (on the command line: microBatchTokens is --micro-batch-tokens, maxSeqLen is --max-seq-len)",
        Main.flagsNamed("microBatchTokens 300 is less than the longest sample (512 tokens), which is never cut: raise "
            + "microBatchTokens (recipe key device_train_microbatch_tokens) to at least 512 or lower maxSeqLen",
            pretrain));
    assertEquals(" (on the command line: numWorkers is --workers)", Main.flagsNamed("numWorkers 8 is more than the "
        + "4 task slots of this cluster", pretrain));
    assertEquals(" (on the command line: windowStride is --window-stride)", Main.flagsNamed("set windowStride to "
        + "score them in windows", new PredictCommand().help()));
    assertEquals("", Main.flagsNamed("checkpointDir x cannot be written", pretrain), "no such flag: nothing added");
  }
}
