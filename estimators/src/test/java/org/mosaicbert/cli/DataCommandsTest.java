package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.cli.EncodeCommandTest.Result;
import org.mosaicbert.testing.SharedTestData;

/** The Spark subcommands end to end, as a user runs them: what they print, what they leave on disk. */
class DataCommandsTest {
  @TempDir Path tmp;

  @Test
  void trainVocabThenTokenizeWithIt() throws Exception {
    String c4 = SharedTestData.path("data/c4").toString();
    Path vocab = tmp.resolve("vocab.txt");
    Result trained = EncodeCommandTest.run(new byte[0], "train-vocab", "--input", c4, "--output", vocab.toString(),
        "--vocab-size", "2048");
    assertEquals(0, trained.code(), trained.err());
    assertTrue(trained.out().startsWith("vocabulary: " + vocab + " (2048 tokens)"), trained.out());
    assertEquals(2048, Files.readAllLines(vocab).size());

    Path shards = tmp.resolve("shards");
    Result tokenized = EncodeCommandTest.run(new byte[0], "tokenize", "--input", c4, "--vocab", vocab.toString(),
        "--output", shards.toString(), "--max-seq-len", "64");
    assertEquals(0, tokenized.code(), tokenized.err());
    assertTrue(tokenized.out().contains("samples: 1030,"), tokenized.out());
    assertTrue(Files.exists(shards.resolve("manifest.json")));
    assertTrue(Files.exists(shards.resolve("shard-00000.parquet")));
    assertEquals(Files.readAllLines(vocab), Files.readAllLines(shards.resolve("vocab.txt")));
  }

  @Test
  void badFlagsAndInputsGiveMessagesNotStackTraces() {
    Result size = EncodeCommandTest.run(new byte[0], "train-vocab", "--output", tmp.resolve("v.txt").toString(),
        "--vocab-size", "1000");
    assertEquals(1, size.code());
    assertTrue(size.err().contains("--vocab-size must be a positive multiple of 64"), size.err());
    Result missing = EncodeCommandTest.run(new byte[0], "tokenize", "--input", tmp.resolve("none").toString(),
        "--output", tmp.resolve("o").toString());
    assertEquals(1, missing.code());
    assertTrue(missing.err().contains("does not exist"), missing.err());
    assertTrue(!missing.err().contains("\tat "), "no stack trace for bad input: " + missing.err());
    Result format = EncodeCommandTest.run(new byte[0], "tokenize", "--format", "csv", "--output", "x");
    assertEquals(1, format.code());
    assertTrue(format.err().contains("--format must be auto, json, text or parquet"), format.err());
  }

  /** The library names the option (skipBadRecords); the command line names the flag its user types. */
  @Test
  void aBadRecordNamesTheSkipFlag() throws Exception {
    Path corpus = tmp.resolve("bad.jsonl");
    Files.writeString(corpus, "{\"text\": \"fine\"}\n{\"text\": \"broken\n");
    Path vocab = tmp.resolve("vocab.txt");
    Files.write(vocab, java.util.List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "fine"));
    Result tokenize = EncodeCommandTest.run(new byte[0], "tokenize", "--input", corpus.toString(), "--vocab",
        vocab.toString(), "--output", tmp.resolve("shards").toString());
    Result trainVocab = EncodeCommandTest.run(new byte[0], "train-vocab", "--input", corpus.toString(), "--output",
        tmp.resolve("trained.txt").toString());
    for (Result r : java.util.List.of(tokenize, trainVocab)) {
      assertEquals(1, r.code(), r.err());
      assertTrue(r.err().contains(corpus + " line 2: malformed JSON"), r.err());
      assertTrue(r.err().contains("or set --skip-bad-records to"), r.err());
      assertTrue(!r.err().contains("skipBadRecords"), r.err());
    }
  }
}
