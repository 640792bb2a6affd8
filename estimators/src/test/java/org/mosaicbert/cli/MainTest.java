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

  /** A failure is a sentence (its innermost cause's message) with exit code 1; the stack trace only on request. */
  @Test
  void anErrorEndsTheCommandWithExitCode1AndASentenceTheTraceOnlyWhenVerbose() {
    for (boolean verbose : new boolean[] {false, true}) {
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      int code = Main.run(new FailsWithAnError(), new String[0], new ByteArrayInputStream(new byte[0]),
          new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8), verbose);
      assertEquals(1, code);
      String text = err.toString(StandardCharsets.UTF_8);
      assertTrue(text.startsWith("fails failed: No space left on device: /mnt/full/model.safetensors\n"), text);
      assertEquals(verbose, text.contains("\tat org.mosaicbert.cli.MainTest"), text);
      assertEquals(!verbose, text.contains("(--verbose prints the stack trace)"), text);
    }
  }

  /** The library names params and options; the command line says the flags its user typed instead. */
  @Test
  void aLibraryErrorNamesTheFlagsOnTheCommandLine() {
    String pretrain = new PretrainCommand().help();
    assertEquals("--micro-batch-tokens 300 is less than the longest sample (512 tokens): raise --micro-batch-tokens "
        + "(recipe key device_train_microbatch_tokens) or lower --max-seq-len", Main.withFlags("microBatchTokens 300 "
        + "is less than the longest sample (512 tokens): raise microBatchTokens (recipe key "
        + "device_train_microbatch_tokens) or lower maxSeqLen", pretrain));
    assertEquals("--workers 8 is more than the 4 task slots", Main.withFlags("numWorkers 8 is more than the 4 task "
        + "slots", pretrain));
    String tokenize = new TokenizeCommand().help();
    assertEquals("--vocab-size must be a positive multiple of 64; got 1000", Main.withFlags("vocabSize must be a "
        + "positive multiple of 64; got 1000", tokenize));
    assertEquals("--format must be auto, json, text or parquet; got 'csv'", Main.withFlags("format must be auto, "
        + "json, text or parquet; got 'csv'", tokenize));
    String untouched = "/data/maxSeqLens/vocabSizeX.txt: no such file; the checkpointDir of another fit";
    assertEquals(untouched, Main.withFlags(untouched, tokenize), "only whole names with a flag here");
  }

  /** The sentence is the exception that says what happened: not Spark's wrapper, nor a message repeating its cause. */
  @Test
  void theSentenceIsTheMessageOfTheExceptionThatSaysWhatHappened() {
    Throwable diskFull = new org.apache.spark.SparkException("Job aborted due to stage failure: Task 0 ...",
        new org.mosaicbert.train.CheckpointWriteFailed(2, "step 2: cannot write /x/step-000000002: No space left on "
            + "device", new java.io.IOException("No space left on device")));
    assertEquals("step 2: cannot write /x/step-000000002: No space left on device", Main.whatWentWrong(diskFull));
    assertEquals("Size must be specified as bytes (b)", Main.whatWentWrong(new NumberFormatException(
        "Size must be specified as bytes (b)")));
    assertEquals("java.lang.NullPointerException", Main.whatWentWrong(new NullPointerException()));
  }
}
