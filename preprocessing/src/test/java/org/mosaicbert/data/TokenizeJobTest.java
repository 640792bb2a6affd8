package org.mosaicbert.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.testing.LocalSpark;
import org.mosaicbert.testing.SharedTestData;
import org.mosaicbert.testing.TestCorpora;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.TokenizerLoader;

class TokenizeJobTest {
  private static SparkSession spark;

  @TempDir Path tmp;

  @BeforeAll
  static void startSpark() {
    spark = LocalSpark.start();
  }

  @AfterAll
  static void stopSpark() {
    spark.stop();
  }

  private TokenizeJob.Result tokenize(String input, String vocab, Path output, long rowsPerShard, boolean skipBad) {
    return TokenizeJob.run(spark, new TokenizeJob.Options(input, vocab, output.toString(), 128, null, "text",
        rowsPerShard, false, skipBad, false, TrainVocabJob.DEFAULT_VOCAB_SIZE));
  }

  /** (sample_id, input_ids) of every row, shard after shard, in file order. */
  private static List<Row> rows(Path output, ShardManifest manifest) {
    List<Row> rows = new ArrayList<>();
    for (ShardManifest.Shard shard : manifest.shards()) {
      rows.addAll(spark.read().parquet(output.resolve(shard.path()).toString()).collectAsList());
    }
    return rows;
  }

  @Test
  void tokenizesTheC4FolderIntoShardsWhoseManifestCountsEveryDocument() {
    Path output = tmp.resolve("shards");
    TokenizeJob.Result result = tokenize(SharedTestData.path("data/c4").toString(),
        SharedTestData.vocabTxt().toString(), output, 300, false);
    ShardManifest m = ShardManifest.read(new org.apache.hadoop.fs.Path(output.toString()),
        spark.sparkContext().hadoopConfiguration());
    assertEquals(m, result.manifest());
    assertEquals(1030, m.totalRows(), "every C4 document is a sample");
    assertEquals(new ShardManifest.Skipped(0, 0), m.skipped());
    assertEquals(4, m.input().files().size(), "the JSONL file and the three gzipped fixtures in the subfolder");
    assertEquals(4, m.shards().size(), "1030 rows at 300 per shard");
    assertEquals(List.of(300L, 300L, 300L, 130L), m.shards().stream().map(ShardManifest.Shard::rows).toList());
    assertEquals(30522, m.vocab().size());
    assertEquals(30528, m.vocab().paddedSize());
    assertTrue(Files.exists(output.resolve("vocab.txt")));

    BertWordPieceTokenizer tokenizer = TokenizerLoader.load(SharedTestData.vocabTxt(), false);
    List<String> docs = TestCorpora.c4Documents();
    List<Row> rows = rows(output, m);
    assertEquals(1030, rows.size());
    long tokens = 0;
    long previousId = -1;
    for (int i = 0; i < rows.size(); i++) {
      Row row = rows.get(i);
      long sampleId = row.getLong(row.fieldIndex("sample_id"));
      assertTrue(sampleId > previousId, "rows are in sample order");
      previousId = sampleId;
      int[] ids = row.getList(row.fieldIndex("input_ids")).stream().mapToInt(o -> (Integer) o).toArray();
      assertArrayEquals(tokenizer.encode(docs.get(i), 128), ids, "row " + i);
      assertEquals(ids.length, row.getInt(row.fieldIndex("num_tokens")));
      tokens += ids.length;
    }
    assertEquals(tokens, m.totalTokens());
    assertEquals(0L, rows.get(0).getLong(0) >>> CorpusFile.RECORD_BITS, "first file");
    assertEquals(3L, rows.get(rows.size() - 1).getLong(0) >>> CorpusFile.RECORD_BITS, "last file");
    for (ShardManifest.Shard shard : m.shards()) {
      assertEquals(shard.rows(), shard.rowGroups().stream().mapToLong(Long::longValue).sum(), shard.path());
    }
  }

  @Test
  void theSameInputGivesTheSameRowsInTheSameShards() {
    String input = SharedTestData.path("data/c4").toString();
    TokenizeJob.Result a = tokenize(input, SharedTestData.vocabTxt().toString(), tmp.resolve("a"), 400, false);
    TokenizeJob.Result b = tokenize(input, SharedTestData.vocabTxt().toString(), tmp.resolve("b"), 400, false);
    assertEquals(a.manifest(), b.manifest());
    List<Row> rowsA = rows(tmp.resolve("a"), a.manifest());
    List<Row> rowsB = rows(tmp.resolve("b"), b.manifest());
    assertEquals(rowsA.size(), rowsB.size());
    for (int i = 0; i < rowsA.size(); i++) {
      assertEquals(rowsA.get(i).getLong(0), rowsB.get(i).getLong(0));
      assertEquals(rowsA.get(i).getList(1), rowsB.get(i).getList(1));
    }
  }

  private Path write(String name, byte[] content) throws IOException {
    Path file = tmp.resolve("in").resolve(name);
    Files.createDirectories(file.getParent());
    Files.write(file, content);
    return file;
  }

  /** The job's failure on {@code input}; skips, outside assertThrows, when the shared vocabulary is absent. */
  private IllegalArgumentException failure(Path input) {
    String vocab = SharedTestData.vocabTxt().toString();
    return assertThrows(IllegalArgumentException.class,
        () -> tokenize(input.toString(), vocab, tmp.resolve("out"), 0, false));
  }

  @Test
  void malformedJsonNamesTheFileAndLine() throws IOException {
    Path file = write("bad.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"broken\n".getBytes(StandardCharsets.UTF_8));
    String message = failure(file).getMessage();
    assertTrue(message.contains(file + " line 2: malformed JSON"), message);
    assertTrue(message.contains("or set skipBadRecords to count and skip such records"), message);
    assertFalse(Files.exists(tmp.resolve("out")), "no output after a failure");
    try (var left = Files.list(tmp)) {
      assertTrue(left.noneMatch(p -> p.getFileName().toString().contains(".tmp-")), "temporary folder removed");
    }
  }

  @Test
  void missingOrNonStringTextFieldNamesTheFileAndLine() throws IOException {
    Path missing = write("missing.jsonl", "{\"body\": \"no text here\"}\n".getBytes(StandardCharsets.UTF_8));
    String message = failure(missing).getMessage();
    assertTrue(message.contains(missing + " line 1: no \"text\" field"), message);
    assertTrue(message.contains("set textColumn to the field"), message);
    Files.delete(missing);
    Path number = write("number.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": 42}\n".getBytes(StandardCharsets.UTF_8));
    message = failure(number).getMessage();
    assertTrue(message.contains(number + " line 3: field \"text\" is a number, not a string"), message);
  }

  @Test
  void invalidUtf8NamesTheFileAndLine() throws IOException {
    Path file = write("latin1.txt", new byte[] {'o', 'k', '\n', 'c', 'a', 'f', (byte) 0xE9, '\n'});
    String message = failure(file).getMessage();
    assertTrue(message.contains(file + " line 2: invalid UTF-8"), message);
  }

  @Test
  void skipBadRecordsCountsAndReportsThem() throws IOException {
    Path file = write("mixed.jsonl", ("{\"text\": \"The first document.\"}\n{oops}\n{\"text\": \"   \"}\n"
        + "{\"text\": \"The last document.\"}\n").getBytes(StandardCharsets.UTF_8));
    TokenizeJob.Result result = tokenize(file.toString(), SharedTestData.vocabTxt().toString(), tmp.resolve("out"), 0,
        true);
    assertEquals(2, result.manifest().totalRows());
    assertEquals(new ShardManifest.Skipped(1, 1), result.manifest().skipped(), "one empty, one bad");
    assertEquals(1, result.badRecordExamples().size());
    assertTrue(result.badRecordExamples().get(0).contains(file + " line 2: malformed JSON"));
    assertEquals(new ShardManifest.InputFile(file.toUri().toString().replace("file:///", "file:/"), "json", 4, 2, 1, 1),
        result.manifest().input().files().get(0));
  }

  @Test
  void aMissingPathOrAFolderWithoutCorpusFilesIsRefused() throws IOException {
    String message = failure(tmp.resolve("nowhere")).getMessage();
    assertTrue(message.contains("nowhere does not exist"), message);
    write("notes.md", "# not a corpus".getBytes(StandardCharsets.UTF_8));
    message = failure(tmp.resolve("in")).getMessage();
    assertTrue(message.contains("holds no readable file"), message);
    assertTrue(message.contains("say which format they are"), message);
  }

  @Test
  void aVocabularyWithoutMaskIsRefused() throws IOException {
    Path vocab = tmp.resolve("vocab.txt");
    Files.write(vocab, List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"));
    Path input = write("ok.txt", "hello\n".getBytes(StandardCharsets.UTF_8));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> tokenize(input.toString(), vocab.toString(), tmp.resolve("out"), 0, false));
    assertTrue(e.getMessage().contains(vocab + " has no [MASK] token"), e.getMessage());
  }

  @Test
  void anExistingOutputIsKeptWithoutOverwrite() throws IOException {
    Path input = write("ok.txt.gz", gzip("hello world\nsecond document\n"));
    Path output = tmp.resolve("out");
    String vocab = SharedTestData.vocabTxt().toString();
    tokenize(input.toString(), vocab, output, 0, false);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> tokenize(input.toString(), vocab, output, 0, false));
    assertTrue(e.getMessage().contains("already exists; replace it (overwrite)"), e.getMessage());
    TokenizeJob.Result again = TokenizeJob.run(spark, new TokenizeJob.Options(input.toString(), vocab,
        output.toString(), 16, null, "text", 0, true, false, false, 8192));
    assertEquals(2, again.manifest().totalRows());
    assertEquals(16, ShardManifest.read(new org.apache.hadoop.fs.Path(output.toString()),
        spark.sparkContext().hadoopConfiguration()).maxSeqLen());
  }

  @Test
  void badOptionsAreNamedAsTheOptionsField() {
    IllegalArgumentException length = assertThrows(IllegalArgumentException.class,
        () -> new TokenizeJob.Options(null, null, "out", 2, null, "text", 0, false, false, false, 8192));
    assertTrue(length.getMessage().startsWith("maxSeqLen must be at least 3"), length.getMessage());
    IllegalArgumentException rows = assertThrows(IllegalArgumentException.class,
        () -> new TokenizeJob.Options(null, null, "out", 128, null, "text", -1, false, false, false, 8192));
    assertTrue(rows.getMessage().startsWith("rowsPerShard must be positive, or 0"), rows.getMessage());
    IllegalArgumentException format = assertThrows(IllegalArgumentException.class,
        () -> CorpusFormat.parseOrAuto("csv"));
    assertEquals("format must be auto, json, text or parquet; got 'csv'", format.getMessage());
  }

  private static byte[] gzip(String text) throws IOException {
    var bytes = new java.io.ByteArrayOutputStream();
    try (OutputStream out = new GZIPOutputStream(bytes)) {
      out.write(text.getBytes(StandardCharsets.UTF_8));
    }
    return bytes.toByteArray();
  }
}
