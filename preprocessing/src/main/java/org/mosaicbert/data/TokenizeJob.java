package org.mosaicbert.data;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.TokenizerLoader;
import org.mosaicbert.tokenizer.TokenizerSpec;
import org.mosaicbert.tokenizer.Vocabulary;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * The tokenize-and-shard job: a corpus becomes Parquet shards of {@code sample_id, input_ids, num_tokens}, one row
 * per document ({@code [CLS] ... [SEP]}, truncated, never padded), plus {@code vocab.txt} and {@code manifest.json}.
 *
 * <ol>
 *   <li>Each input file is read and tokenized by one task, in order (one tokenizer per partition); the results are
 *       kept (memory, then disk) for the next two steps.
 *   <li>Per-file counts give every sample its global row number (files in sorted order, records in file order).
 *   <li>Rows are routed to shard {@code row / rowsPerShard}, sorted, and each shard is written by one task.
 * </ol>
 *
 * The same input therefore gives the same rows in the same shards in the same order, whatever the cluster. The
 * output appears only when complete ({@link SparkJobs#writeAtomically}).
 */
public final class TokenizeJob {
  public static final int DEFAULT_MAX_SEQ_LEN = 128;
  public static final String DEFAULT_TEXT_COLUMN = "text";
  static final long TARGET_SHARD_BYTES = 128L << 20;
  static final long ROW_GROUP_BYTES = 16L << 20;
  private static final Logger LOG = LoggerFactory.getLogger(TokenizeJob.class);

  private TokenizeJob() {}

  /**
   * @param input a file or folder; null for the embedded default corpus
   * @param vocab a vocab.txt or tokenizer.json; null to train one on the input first
   * @param format null to decide by file extension
   * @param rowsPerShard 0 to choose for about 128 MB per shard
   * @param cased with a vocab.txt or a trained vocabulary: keep case and accents
   */
  public record Options(String input, String vocab, String output, int maxSeqLen, CorpusFormat format,
      String textColumn, long rowsPerShard, boolean overwrite, boolean skipBadRecords, boolean cased, int vocabSize)
      implements Serializable {
    public Options {
      if (maxSeqLen < 3) {
        throw new IllegalArgumentException("maxSeqLen must be at least 3 ([CLS], a token, [SEP]); got " + maxSeqLen);
      }
      if (rowsPerShard < 0) {
        throw new IllegalArgumentException("rowsPerShard must be positive, or 0 to choose for about 128 MB per shard; "
            + "got " + rowsPerShard);
      }
    }
  }

  public record Result(ShardManifest manifest, String output, double seconds, List<String> badRecordExamples) {}

  /** What happened to one record: a sample, an empty document, or a bad record. */
  private record Outcome(int file, long sampleId, int[] inputIds, String badMessage) implements Serializable {
    boolean isSample() {
      return inputIds != null;
    }

    boolean isEmpty() {
      return inputIds == null && badMessage == null;
    }
  }

  /** Per-file counts, merged across a file's records. */
  private record FileCounts(long samples, long tokens, long empty, long bad, List<String> badExamples)
      implements Serializable {
    static FileCounts of(Outcome o) {
      if (o.isSample()) {
        return new FileCounts(1, o.inputIds().length, 0, 0, List.of());
      }
      return o.isEmpty() ? new FileCounts(0, 0, 1, 0, List.of()) : new FileCounts(0, 0, 0, 1, List.of(o.badMessage()));
    }

    FileCounts plus(FileCounts other) {
      List<String> examples = new ArrayList<>(badExamples);
      other.badExamples.stream().limit(Math.max(0, 10 - examples.size())).forEach(examples::add);
      return new FileCounts(samples + other.samples, tokens + other.tokens, empty + other.empty, bad + other.bad,
          examples);
    }
  }

  public static Result run(SparkSession spark, Options options) {
    long start = System.nanoTime();
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    List<CorpusFile> files = options.input() == null ? List.of(DefaultCorpus.file())
        : CorpusListing.list(options.input(), options.format(), conf);
    String textColumn = options.textColumn();
    return SparkJobs.writeAtomically(options.output(), options.overwrite(), conf, tmp -> {
      TokenizerSpec spec = tokenizerSpec(spark, options, files, tmp, conf);
      Result result = tokenizeAndShard(spark, options, files, spec, tmp, conf, start);
      LOG.info("tokenized {} files: {} samples, {} tokens in {} shards ({} empty, {} bad skipped)", files.size(),
          result.manifest().totalRows(), result.manifest().totalTokens(), result.manifest().shards().size(),
          result.manifest().skipped().empty(), result.manifest().skipped().bad());
      return result;
    });
  }

  private static TokenizerSpec tokenizerSpec(SparkSession spark, Options options, List<CorpusFile> files, Path tmp,
      Configuration conf) {
    BertNormalizer normalizer = options.cased() ? BertNormalizer.cased() : BertNormalizer.uncased();
    TokenizerSpec spec;
    if (options.vocab() == null) {
      LOG.info("no vocabulary given: training a {}-token vocabulary on the input first", options.vocabSize());
      TrainVocabJob.Result trained = TrainVocabJob.train(spark, files, options.textColumn(), options.skipBadRecords(),
          normalizer, options.vocabSize());
      spec = TokenizerSpec.bert(trained.tokens(), normalizer);
    } else {
      spec = TokenizerLoader.load(java.nio.file.Path.of(options.vocab()), options.cased()).spec();
      for (String required : List.of("[CLS]", "[SEP]", "[MASK]", "[UNK]")) {
        if (!spec.tokens().contains(required)) {
          throw new IllegalArgumentException("vocabulary " + options.vocab() + " has no " + required + " token; "
              + "MosaicBERT pretraining needs [CLS], [SEP], [MASK] and [UNK] (train one with mosaicbert train-vocab)");
        }
      }
    }
    TrainVocabJob.writeVocab(spec.tokens(), new Path(tmp, "vocab.txt"), conf);
    return spec;
  }

  private static Result tokenizeAndShard(SparkSession spark, Options options, List<CorpusFile> files,
      TokenizerSpec spec, Path tmp, Configuration conf, long start) {
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    HadoopConf hadoopConf = HadoopConf.of(conf);
    Broadcast<TokenizerSpec> specBroadcast = jsc.broadcast(spec);
    String textColumn = options.textColumn();
    int maxSeqLen = options.maxSeqLen();
    boolean skipBad = options.skipBadRecords();

    // 1. Each task reads a run of consecutive files, records in file order. A few tasks per core: enough to balance
    //    the load, few enough that building the tokenizer (a trie of the whole vocabulary) stays cheap.
    int tasks = Math.min(files.size(), 4 * jsc.defaultParallelism());
    JavaRDD<Outcome> outcomes = jsc.parallelize(files, tasks).mapPartitions((Iterator<CorpusFile> it) -> {
      BertWordPieceTokenizer tokenizer = specBroadcast.value().build();
      CorpusReader reader = new CorpusReader(hadoopConf.toConfiguration(), textColumn);
      return new OutcomeIterator(it, reader, tokenizer, maxSeqLen, skipBad);
    }).persist(StorageLevel.MEMORY_AND_DISK());
    try {
      // 2. Counts per file, then each file's first global row.
      Map<Integer, FileCounts> counts = outcomes.mapToPair(o -> new Tuple2<>(o.file(), FileCounts.of(o)))
          .reduceByKey(FileCounts::plus).collectAsMap();
      long[] firstRow = new long[files.size() + 1];
      long totalTokens = 0;
      List<String> badExamples = new ArrayList<>();
      List<ShardManifest.InputFile> inputFiles = new ArrayList<>();
      long empty = 0;
      long bad = 0;
      for (CorpusFile file : files) {
        FileCounts c = counts.getOrDefault(file.index(), new FileCounts(0, 0, 0, 0, List.of()));
        firstRow[file.index() + 1] = firstRow[file.index()] + c.samples();
        totalTokens += c.tokens();
        empty += c.empty();
        bad += c.bad();
        c.badExamples().stream().limit(Math.max(0, 10 - badExamples.size())).forEach(badExamples::add);
        inputFiles.add(new ShardManifest.InputFile(file.path(), file.format().name().toLowerCase(java.util.Locale.ROOT),
            c.samples() + c.empty() + c.bad(), c.samples(), c.empty(), c.bad()));
      }
      long totalRows = firstRow[files.size()];
      if (totalRows == 0) {
        throw new IllegalArgumentException("no documents to write: every record of the input was empty or bad ("
            + empty + " empty, " + bad + " bad)");
      }
      long rowsPerShard = options.rowsPerShard() > 0 ? options.rowsPerShard()
          : Math.max(1, TARGET_SHARD_BYTES / (4 * Math.max(1, totalTokens / totalRows) + 16));
      int numShards = (int) ((totalRows + rowsPerShard - 1) / rowsPerShard);

      // 3. Route rows to shards and write each shard in row order.
      JavaPairRDD<Long, TokenizedSample> numbered = outcomes
          .mapPartitions(it -> new RowNumbering(it, firstRow), true).mapToPair(t -> t);
      String tmpDir = tmp.toString();
      List<ShardManifest.Shard> shards = new ArrayList<>(numbered
          .repartitionAndSortWithinPartitions(new ShardPartitioner(numShards, rowsPerShard))
          .mapPartitionsWithIndex((shard, it) -> List.of(writeShard(shard, it, tmpDir, hadoopConf)).iterator(), true)
          .collect());
      shards.sort(java.util.Comparator.comparing(ShardManifest.Shard::path));

      Vocabulary vocab = new Vocabulary(spec.tokens());
      ShardManifest manifest = new ShardManifest(ShardManifest.FORMAT_VERSION,
          new ShardManifest.Vocab("vocab.txt", vocab.sha256(), vocab.size(), vocab.paddedSize()), maxSeqLen,
          ShardManifest.Tokenizer.of(spec.normalizer()),
          shards, totalRows, totalTokens, new ShardManifest.Skipped(empty, bad),
          new ShardManifest.Input(options.input() == null ? DefaultCorpus.PATH : options.input(),
              options.format() == null ? "auto" : options.format().name().toLowerCase(java.util.Locale.ROOT),
              textColumn, inputFiles));
      manifest.write(new Path(tmp, ShardManifest.FILE_NAME), conf);
      return new Result(manifest, options.output(), (System.nanoTime() - start) / 1e9, badExamples);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } finally {
      outcomes.unpersist(false);
      specBroadcast.destroy();
    }
  }

  private static ShardManifest.Shard writeShard(int shard, Iterator<Tuple2<Long, TokenizedSample>> rows,
      String dir, HadoopConf conf) throws IOException {
    String name = String.format("shard-%05d.parquet", shard);
    try (TokenizedShardWriter writer = new TokenizedShardWriter(new Path(dir, name), conf.toConfiguration(),
        ROW_GROUP_BYTES)) {
      while (rows.hasNext()) {
        writer.write(rows.next()._2());
      }
      writer.close();
      return new ShardManifest.Shard(name, writer.rows(), writer.tokens(), writer.rowGroups());
    }
  }

  /** Shard k holds global rows [k * rowsPerShard, (k + 1) * rowsPerShard). */
  private static final class ShardPartitioner extends Partitioner {
    private final int numShards;
    private final long rowsPerShard;

    ShardPartitioner(int numShards, long rowsPerShard) {
      this.numShards = numShards;
      this.rowsPerShard = rowsPerShard;
    }

    @Override
    public int numPartitions() {
      return numShards;
    }

    @Override
    public int getPartition(Object key) {
      return (int) ((Long) key / rowsPerShard);
    }

    @Override
    public boolean equals(Object other) {
      return other instanceof ShardPartitioner p && p.numShards == numShards && p.rowsPerShard == rowsPerShard;
    }

    @Override
    public int hashCode() {
      return Long.hashCode(rowsPerShard) * 31 + numShards;
    }
  }

  /** Gives each sample of a partition its global row: a partition holds whole files, in order. */
  private static final class RowNumbering implements Iterator<Tuple2<Long, TokenizedSample>> {
    private final Iterator<Outcome> outcomes;
    private final long[] firstRow;
    private int file = -1;
    private long row;
    private Outcome next;

    RowNumbering(Iterator<Outcome> outcomes, long[] firstRow) {
      this.outcomes = outcomes;
      this.firstRow = firstRow;
    }

    @Override
    public boolean hasNext() {
      while (next == null && outcomes.hasNext()) {
        Outcome o = outcomes.next();
        if (o.file() != file) {
          file = o.file();
          row = firstRow[file];
        }
        next = o.isSample() ? o : null;
      }
      return next != null;
    }

    @Override
    public Tuple2<Long, TokenizedSample> next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      Outcome o = next;
      next = null;
      return new Tuple2<>(row++, new TokenizedSample(o.sampleId(), o.inputIds()));
    }
  }

  /** Reads and tokenizes one partition's files lazily, record by record. */
  private static final class OutcomeIterator implements Iterator<Outcome> {
    private final Iterator<CorpusFile> files;
    private final CorpusReader reader;
    private final BertWordPieceTokenizer tokenizer;
    private final int maxSeqLen;
    private final boolean skipBad;
    private CorpusFile file;
    private CorpusReader.Records records;
    private Outcome next;

    OutcomeIterator(Iterator<CorpusFile> files, CorpusReader reader, BertWordPieceTokenizer tokenizer, int maxSeqLen,
        boolean skipBad) {
      this.files = files;
      this.reader = reader;
      this.tokenizer = tokenizer;
      this.maxSeqLen = maxSeqLen;
      this.skipBad = skipBad;
    }

    @Override
    public boolean hasNext() {
      try {
        while (next == null) {
          if (records == null) {
            if (!files.hasNext()) {
              return false;
            }
            file = files.next();
            records = reader.open(file);
          }
          CorpusReader.Record r = records.next();
          if (r == null) {
            records.close();
            records = null;
          } else {
            next = toOutcome(r);
          }
        }
        return true;
      } catch (IOException e) {
        throw new java.io.UncheckedIOException("cannot read " + file.path() + ": " + e.getMessage(), e);
      }
    }

    private Outcome toOutcome(CorpusReader.Record r) {
      if (r.isBad()) {
        if (!skipBad) {
          throw new BadRecordException(r.badMessage() + " (or set skipBadRecords to count and skip such records)");
        }
        return new Outcome(file.index(), file.sampleId(r.index()), null, r.badMessage());
      }
      int[] ids = tokenizer.encode(r.text(), maxSeqLen);
      return new Outcome(file.index(), file.sampleId(r.index()), ids.length <= 2 ? null : ids, null);
    }

    @Override
    public Outcome next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      Outcome o = next;
      next = null;
      return o;
    }
  }
}
