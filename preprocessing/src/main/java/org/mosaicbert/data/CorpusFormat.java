package org.mosaicbert.data;

import java.util.Locale;

/** How a corpus file holds its documents. */
public enum CorpusFormat {
  /** JSON lines (C4): one object per line, the document in a string field ({@code text} by default). */
  JSON,
  /** Plain text: one document per line. */
  TEXT,
  /** A Parquet table with a string column ({@code text} by default). */
  PARQUET,
  /** Lucene's Europarl line docs ({@code title TAB date TAB body}); the embedded default corpus only. */
  EUROPARL;

  /** Parses a format's name: {@code auto} gives null (decide per file). */
  public static CorpusFormat parseOrAuto(String value) {
    return switch (value.toLowerCase(Locale.ROOT)) {
      case "auto" -> null;
      case "json" -> JSON;
      case "text" -> TEXT;
      case "parquet" -> PARQUET;
      default -> throw new IllegalArgumentException("format must be auto, json, text or parquet; got '" + value + "'");
    };
  }

  /** The format of a file by its name, or null when the name says nothing. */
  public static CorpusFormat byExtension(String fileName) {
    String name = fileName.toLowerCase(Locale.ROOT);
    if (name.endsWith(".json") || name.endsWith(".jsonl") || name.endsWith(".json.gz") || name.endsWith(".jsonl.gz")) {
      return JSON;
    }
    if (name.endsWith(".txt") || name.endsWith(".txt.gz")) {
      return TEXT;
    }
    if (name.endsWith(".parquet")) {
      return PARQUET;
    }
    return null;
  }
}
