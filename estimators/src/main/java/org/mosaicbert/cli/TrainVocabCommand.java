package org.mosaicbert.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.data.CorpusFile;
import org.mosaicbert.data.CorpusFormat;
import org.mosaicbert.data.CorpusListing;
import org.mosaicbert.data.DefaultCorpus;
import org.mosaicbert.data.SparkJobs;
import org.mosaicbert.data.TokenizeJob;
import org.mosaicbert.data.TrainVocabJob;
import org.mosaicbert.tokenizer.BertNormalizer;

/** {@code train-vocab}: a WordPiece vocabulary trained on a corpus (Spark). */
final class TrainVocabCommand implements Subcommand {
  @Override
  public String name() {
    return "train-vocab";
  }

  @Override
  public String summary() {
    return "train a WordPiece vocabulary on a corpus (size a multiple of 64)";
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert train-vocab [--input PATH] --output vocab.txt [--vocab-size N] [flags]

        Trains a WordPiece vocabulary the way Hugging Face's WordPieceTrainer does (BPE-style merges, ## for
        continuations, BERT normalization and pre-tokenization; minimum pair frequency 2, alphabet of 1,000):
        word counts on the executors, merges on the driver. [PAD] [UNK] [CLS] [SEP] [MASK] come first.

          --input PATH          a corpus file or folder (read recursively); default: the embedded English
                                Europarl corpus
          --output FILE         the vocab.txt to write (one token per line)
          --vocab-size N        a multiple of 64 (default 8192)
          --format F            auto (by extension), json, text or parquet (default auto)
          --text-column NAME    the JSON field or Parquet column with the text (default text)
          --cased               keep case and accents (default: lowercase and strip accents)
          --skip-bad-records    count and skip unreadable records instead of failing
          --overwrite           replace an existing output
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws java.io.IOException {
    Args args = Args.parse(name(), argv, Set.of("input", "output", "vocab-size", "format", "text-column"),
        Set.of("cased", "skip-bad-records", "overwrite"));
    String output = args.requiredString("output");
    int vocabSize = args.intValue("vocab-size", TrainVocabJob.DEFAULT_VOCAB_SIZE, 64);
    CorpusFormat format = CorpusFormat.parseOrAuto(args.string("format", "auto"));
    String textColumn = args.string("text-column", TokenizeJob.DEFAULT_TEXT_COLUMN);
    SparkSession spark = SubcommandSpark.submittedOrLocal(name());
    try {
      var conf = spark.sparkContext().hadoopConfiguration();
      Outputs.claim(output, "--output", name(), conf);
      Outputs.check(output, "--output", args.has("overwrite"), conf, args.has("input")
          ? new String[] {args.requiredString("input")} : new String[0]);
      List<CorpusFile> files = args.has("input") ? CorpusListing.list(args.requiredString("input"), format, conf)
          : List.of(DefaultCorpus.file());
      TrainVocabJob.Result result = SparkJobs.writeAtomically(output, args.has("overwrite"), conf, tmp -> {
        TrainVocabJob.Result trained = TrainVocabJob.train(spark, files, textColumn, args.has("skip-bad-records"),
            args.has("cased") ? BertNormalizer.cased() : BertNormalizer.uncased(), vocabSize);
        TrainVocabJob.writeVocab(trained.tokens(), tmp, conf);
        return trained;
      });
      out.printf("vocabulary: %s (%d tokens)%n", output, result.tokens().size());
      out.printf("corpus: %d documents, %d words (%d distinct), %d bad records skipped%n", result.documents(),
          result.words(), result.distinctWords(), result.badRecords());
      out.printf("time: %.1f s%n", result.seconds());
      return 0;
    } finally {
      spark.stop();
      Outputs.releaseClaims();
    }
  }
}
