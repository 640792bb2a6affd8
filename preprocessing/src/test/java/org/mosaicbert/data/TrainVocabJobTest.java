package org.mosaicbert.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mosaicbert.testing.LocalSpark;
import org.mosaicbert.testing.SharedTestData;
import org.mosaicbert.testing.TestCorpora;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.TokenizerLoader;
import org.mosaicbert.tokenizer.TokenizerSpec;

class TrainVocabJobTest {
  private static SparkSession spark;

  @BeforeAll
  static void startSpark() {
    spark = LocalSpark.start();
  }

  @AfterAll
  static void stopSpark() {
    spark.stop();
  }

  @Test
  void aVocabularyTrainedOnC4TokenizesC4WithFewerThanOnePercentUnknown() {
    List<CorpusFile> files = CorpusListing.list(SharedTestData.path("data/c4").toString(), null,
        spark.sparkContext().hadoopConfiguration());
    TrainVocabJob.Result result = TrainVocabJob.train(spark, files, "text", false, BertNormalizer.uncased(), 8192);
    assertEquals(8192, result.tokens().size());
    assertEquals(TokenizerLoader.BERT_SPECIAL_TOKENS, result.tokens().subList(0, 5), "special tokens first");
    assertEquals(1030, result.documents());
    BertWordPieceTokenizer tokenizer = TokenizerSpec.bert(result.tokens(), BertNormalizer.uncased()).build();
    int unk = tokenizer.vocabulary().id("[UNK]");
    long tokens = 0;
    long unknown = 0;
    for (String doc : TestCorpora.c4Documents()) {
      for (int id : tokenizer.tokenize(doc)) {
        tokens++;
        unknown += id == unk ? 1 : 0;
      }
    }
    double share = (double) unknown / tokens;
    System.err.printf("trained vocabulary: %d tokens; C4 sample: %d tokens, %d [UNK] (%.4f%%), %.1f s%n",
        result.tokens().size(), tokens, unknown, 100 * share, result.seconds());
    assertTrue(share < 0.01, "[UNK] share " + share);
  }

  @Test
  void theSizeMustBeAMultipleOf64() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TrainVocabJob.train(spark, List.of(), "text", false, BertNormalizer.uncased(), 1000));
    assertTrue(e.getMessage().contains("vocabSize must be a positive multiple of 64"), e.getMessage());
    assertTrue(e.getMessage().contains("try 1024"), e.getMessage());
  }

  @Test
  void theDefaultCorpusIsTheEnglishPartOfEuroparl() {
    TrainVocabJob.Result result = TrainVocabJob.train(spark, List.of(DefaultCorpus.file()), "text", false,
        BertNormalizer.uncased(), 4096);
    assertEquals(1271, result.documents(), "English lines of the 17,597");
    assertEquals(4096, result.tokens().size());
    assertTrue(DefaultCorpus.isEnglish("We have to take into account that the Commission will act on this."));
    assertTrue(!DefaultCorpus.isEnglish("Die Kommission wird in dieser Frage handeln und die Mitgliedstaaten "
        + "informieren."));
  }
}
