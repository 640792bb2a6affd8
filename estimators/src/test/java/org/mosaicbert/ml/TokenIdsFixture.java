package org.mosaicbert.ml;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.mosaicbert.testing.TestCorpora;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.TokenizerLoader;
import org.mosaicbert.tokenizer.TokenizerSpec;
import org.mosaicbert.tokenizer.WordPieceTrainer;

/**
 * Pretraining data for the estimator's tests: the first C4 documents of the test corpus, a 512-token vocabulary
 * trained on them ({@code vocab.txt} in a folder) and a DataFrame of their token ids (32 at most) with sample ids
 * that run backwards, so that the stable order is not the row order.
 */
record TokenIdsFixture(Path vocabFile, Dataset<Row> data) {
  static TokenIdsFixture of(SparkSession spark, Path dir, int documents) throws IOException {
    List<String> docs = TestCorpora.c4Documents().subList(0, documents);
    Map<String, Long> words = new HashMap<>();
    docs.forEach(d -> BertWordPieceTokenizer.forEachWord(BertNormalizer.uncased(), d, w -> words.merge(w, 1L,
        Long::sum)));
    List<String> vocab = new WordPieceTrainer(512, 2, 1000, TokenizerLoader.BERT_SPECIAL_TOKENS).train(words);
    Path vocabFile = dir.resolve("vocab.txt");
    Files.write(vocabFile, vocab);
    BertWordPieceTokenizer tokenizer = TokenizerSpec.bert(vocab, BertNormalizer.uncased()).build();
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < docs.size(); i++) {
      List<Integer> list = new ArrayList<>();
      for (int id : tokenizer.encode(docs.get(i), 32)) {
        list.add(id);
      }
      rows.add(RowFactory.create((long) (1000 - i), list));
    }
    StructType schema = new StructType().add("sample_id", DataTypes.LongType)
        .add("input_ids", DataTypes.createArrayType(DataTypes.IntegerType));
    return new TokenIdsFixture(vocabFile, spark.createDataFrame(rows, schema));
  }
}
