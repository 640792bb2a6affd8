package org.mosaicbert.data;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.mosaicbert.tokenizer.BertNormalizer;

/**
 * {@code manifest.json} of a folder of training shards, written last: everything a trainer needs to plan and resume
 * its reads (shards, rows per row group, token counts, the vocabulary) without listing or scanning the data.
 */
public record ShardManifest(int formatVersion, Vocab vocab, int maxSeqLen, Tokenizer tokenizer, List<Shard> shards,
    long totalRows, long totalTokens, Skipped skipped, Input input) implements Serializable {

  public static final int FORMAT_VERSION = 1;
  public static final String FILE_NAME = "manifest.json";

  /** The vocabulary ({@code vocab.txt} in the same folder): its hash, size and embedding rows. */
  public record Vocab(String file, String sha256, int size, int paddedSize) implements Serializable {}

  /** The four BERT normalizer flags the shards were made with. */
  public record Tokenizer(boolean cleanText, boolean handleChineseChars, boolean stripAccents, boolean lowercase)
      implements Serializable {
    public static Tokenizer of(BertNormalizer normalizer) {
      return new Tokenizer(normalizer.cleanText(), normalizer.handleChineseChars(), normalizer.stripAccents(),
          normalizer.lowercase());
    }

    /** The normalizer that made the shards: a model trained on them tokenizes text with it. */
    @JsonIgnore
    public BertNormalizer normalizer() {
      return new BertNormalizer(cleanText, handleChineseChars, stripAccents, lowercase);
    }
  }

  /** One shard: its path relative to the folder, its rows and tokens, and the rows of each row group. */
  public record Shard(String path, long rows, long tokens, List<Long> rowGroups) implements Serializable {}

  /** Documents left out: empty after cleaning (no word pieces), or unreadable (with skipBadRecords). */
  public record Skipped(long empty, long bad) implements Serializable {}

  /** What was read. */
  public record Input(String path, String format, String textColumn, List<InputFile> files) implements Serializable {}

  /** One input file: its records, and how many became samples, were empty or bad. */
  public record InputFile(String path, String format, long records, long samples, long empty, long bad) implements Serializable {}

  private static ObjectMapper mapper() {
    return new ObjectMapper()
        .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
        .enable(SerializationFeature.INDENT_OUTPUT)
        .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
  }

  public void write(Path file, Configuration conf) throws IOException {
    try (OutputStream out = file.getFileSystem(conf).create(file, true)) {
      mapper().writeValue(out, this);
    }
  }

  /**
   * Refuses counts no tokenize run writes (negative, or not adding up), naming the file and the shard: a damaged or
   * hand-edited manifest would otherwise be read as "no samples" or cut the data in the wrong places.
   */
  private void checkCounts(Path file) {
    long rows = 0;
    for (Shard shard : shards) {
      long groups = shard.rowGroups().stream().mapToLong(Long::longValue).sum();
      if (shard.rows() < 0 || shard.tokens() < 0 || shard.rowGroups().stream().anyMatch(g -> g < 0)
          || groups != shard.rows()) {
        throw new IllegalArgumentException(file + ": shard " + shard.path() + " says " + shard.rows() + " rows, "
            + shard.tokens() + " tokens and row groups of " + shard.rowGroups() + " rows; counts must be whole "
            + "numbers of 0 or more and the row groups must add up to the rows. The manifest is damaged: tokenize "
            + "the corpus again");
      }
      rows += shard.rows();
    }
    if (rows != totalRows) {
      throw new IllegalArgumentException(file + ": total_rows " + totalRows + " is not the " + rows + " rows of its "
          + "shards. The manifest is damaged: tokenize the corpus again");
    }
  }

  public static ShardManifest read(Path dir, Configuration conf) {
    Path file = new Path(dir, FILE_NAME);
    try {
      FileSystem fs = file.getFileSystem(conf);
      if (!fs.exists(file)) {
        throw new IllegalArgumentException(dir + " has no " + FILE_NAME + ": it is not a folder of training shards "
            + "(TokenizeJob, or `mosaicbert tokenize`, makes one)");
      }
      try (InputStream in = fs.open(file)) {
        ShardManifest manifest = mapper().readValue(in, ShardManifest.class);
        if (manifest.formatVersion() != FORMAT_VERSION) {
          throw new IllegalArgumentException(file + " has format_version " + manifest.formatVersion() + "; this "
              + "version reads " + FORMAT_VERSION + ": tokenize the corpus again");
        }
        manifest.checkCounts(file);
        return manifest;
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }
}
