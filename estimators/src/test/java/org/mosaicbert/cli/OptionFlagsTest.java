package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.mosaicbert.data.CorpusFormat;

class OptionFlagsTest {
  @Test
  void theOptionsAMessageNamesBecomeTheirFlags() {
    assertEquals("--vocab-size must be a positive multiple of 64; got 1000",
        OptionFlags.PREPROCESSING.reword("vocabSize must be a positive multiple of 64; got 1000"));
    assertEquals("f.jsonl line 2: malformed JSON (or set --skip-bad-records to skip such records)",
        OptionFlags.PREPROCESSING.reword("f.jsonl line 2: malformed JSON (or set skipBadRecords to skip such records)"));
  }

  @Test
  void onlyWholeOptionNamesAreReworded() {
    String message = "/data/maxSeqLens/vocabSizeX.txt: no such file; the vocab size is not the vocabSize2";
    assertEquals(message, OptionFlags.PREPROCESSING.reword(message));
  }

  @Test
  void aLibraryCallsErrorComesBackWithTheFlagAndItsCause() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> OptionFlags.CORPUS_FORMAT.call(() -> CorpusFormat.parseOrAuto("csv")));
    assertEquals("--format must be auto, json, text or parquet; got 'csv'", e.getMessage());
    assertEquals("format must be auto, json, text or parquet; got 'csv'", e.getCause().getMessage());
    assertSame(CorpusFormat.JSON, OptionFlags.CORPUS_FORMAT.call(() -> CorpusFormat.parseOrAuto("json")));
  }
}
