package org.mosaicbert.data;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.LongAccumulator;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.TokenizerLoader;
import org.mosaicbert.tokenizer.WordPieceTrainer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * Trains a WordPiece vocabulary on a corpus: words counted on the executors (normalized and pre-tokenized as BERT
 * does), merges on the driver ({@link WordPieceTrainer}). The size is a multiple of 64.
 */
public final class TrainVocabJob {
  public static final int DEFAULT_VOCAB_SIZE = 8192;
  private static final Logger LOG = LoggerFactory.getLogger(TrainVocabJob.class);

  private TrainVocabJob() {}

  public record Result(List<String> tokens, long documents, long words, long distinctWords, long badRecords,
      double seconds) {}

  /** Trains on the given files; {@code vocabSize} must be a multiple of 64. */
  public static Result train(SparkSession spark, List<CorpusFile> files, String textColumn, boolean skipBadRecords,
      BertNormalizer normalizer, int vocabSize) {
    if (vocabSize < 64 || vocabSize % 64 != 0) {
      throw new IllegalArgumentException("vocabSize must be a positive multiple of 64 (MosaicBERT pads the "
          + "embedding matrix to one); got " + vocabSize + ", try " + Math.max(64, (vocabSize + 63) / 64 * 64));
    }
    long start = System.nanoTime();
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    HadoopConf conf = HadoopConf.of(spark.sparkContext().hadoopConfiguration());
    LongAccumulator documents = spark.sparkContext().longAccumulator("documents");
    LongAccumulator bad = spark.sparkContext().longAccumulator("bad records");
    Map<String, Long> counts = SparkJobs.rethrowExecutorErrors(() -> jsc.parallelize(files, files.size())
        .mapPartitionsToPair((Iterator<CorpusFile> it) -> {
          CorpusReader reader = new CorpusReader(conf.toConfiguration(), textColumn);
          Map<String, Long> local = new HashMap<>();
          while (it.hasNext()) {
            try (CorpusReader.Records records = reader.open(it.next())) {
              for (CorpusReader.Record r = records.next(); r != null; r = records.next()) {
                if (r.isBad()) {
                  if (!skipBadRecords) {
                    throw new BadRecordException(r.badMessage() + " (or set skipBadRecords to skip such records)");
                  }
                  bad.add(1);
                  continue;
                }
                documents.add(1);
                BertWordPieceTokenizer.forEachWord(normalizer, r.text(), w -> local.merge(w, 1L, Long::sum));
              }
            }
          }
          List<Tuple2<String, Long>> out = new ArrayList<>(local.size());
          local.forEach((w, c) -> out.add(new Tuple2<>(w, c)));
          return out.iterator();
        })
        .reduceByKey(Long::sum)
        .collectAsMap());
    long words = counts.values().stream().mapToLong(Long::longValue).sum();
    LOG.info("counted {} words ({} distinct) in {} documents; training {} tokens", words, counts.size(),
        documents.value(), vocabSize);
    List<String> tokens = new WordPieceTrainer(vocabSize, WordPieceTrainer.DEFAULT_MIN_FREQUENCY,
        WordPieceTrainer.DEFAULT_LIMIT_ALPHABET, TokenizerLoader.BERT_SPECIAL_TOKENS).train(new HashMap<>(counts));
    if (tokens.size() < vocabSize) {
      int rounded = tokens.size() / 64 * 64;
      LOG.warn("the corpus supports only {} tokens (no pair occurs {} times more); keeping {}, a multiple of 64",
          tokens.size(), WordPieceTrainer.DEFAULT_MIN_FREQUENCY, rounded);
      if (rounded < 64) {
        throw new IllegalArgumentException("the corpus is too small to train a vocabulary: it supports only "
            + tokens.size() + " tokens");
      }
      tokens = new ArrayList<>(tokens.subList(0, rounded));
    }
    return new Result(tokens, documents.value(), words, counts.size(), bad.value(),
        (System.nanoTime() - start) / 1e9);
  }

  /** Writes a vocab.txt: one token per line, the id of a token is its line number. */
  public static void writeVocab(List<String> tokens, Path file, Configuration conf) {
    try (OutputStream out = file.getFileSystem(conf).create(file, true)) {
      for (String token : tokens) {
        out.write(token.getBytes(StandardCharsets.UTF_8));
        out.write('\n');
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
    }
  }
}
