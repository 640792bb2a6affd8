package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.TokenizerSpec;

/**
 * Which column a stage reads when textCol is not set: the token ids when the input has them, else its text column;
 * an input with neither is refused saying what to set. The model (scoring) and the estimator (fine-tuning) alike.
 */
class TextColumnTest {
  private static final List<String> WORDS = List.of("the", "film", "is", "a", "warm", "funny", "dull", "slow",
      "story", "cast", "wonderful", "mess", "plot", "and", "too", "long");
  private static final List<String> TEXTS = List.of("the film is warm and funny", "a dull and slow story",
      "the cast is wonderful", "the plot is a mess", "too long");

  @TempDir static Path tmp;
  private static SparkSession spark;
  private static List<String> vocab;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[1]").appName("text-column-test").config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
    vocab = new ArrayList<>(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"));
    vocab.addAll(WORDS);
    for (int i = 0; vocab.size() < 64; i++) {
      vocab.add("##" + (char) ('a' + i % 26) + (i / 26 == 0 ? "" : String.valueOf(i / 26)));
    }
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  /** A pretrained (MLM) model as pretrain saves it: textCol not set. */
  private static MosaicBertModel savedAndLoadedMlmModel() throws Exception {
    ModelConfig config = ModelConfig.preset("tiny", vocab.size());
    ParameterLayout layout = new ParameterLayout(config, ParameterLayout.Heads.MLM);
    MosaicBertModel model = new ModelFolder(config, ParameterLayout.Heads.MLM, ModelWeights.initial(layout, config, 5),
        vocab, BertNormalizer.uncased()).toModel();
    String path = tmp.resolve("mlm-model").toString();
    model.write().overwrite().save(path);
    return MosaicBertModel.load(path);
  }

  private static Dataset<Row> table(StructType schema, List<Row> rows) {
    return spark.createDataFrame(rows, schema);
  }

  private static Dataset<Row> texts(String column) {
    List<Row> rows = new ArrayList<>();
    TEXTS.forEach(t -> rows.add(RowFactory.create(t)));
    return table(new StructType().add(column, DataTypes.StringType), rows);
  }

  private static List<double[]> embeddings(Dataset<Row> scored) {
    return scored.select("embedding").collectAsList().stream().map(r -> ((Vector) r.get(0)).toArray()).toList();
  }

  @Test
  void aLoadedPretrainedModelScoresATextColumnWithoutSetTextCol() throws Exception {
    MosaicBertModel loaded = savedAndLoadedMlmModel();
    assertEquals("", loaded.getTextCol(), "pretraining reads token ids: textCol is not set");
    List<double[]> byDefault = embeddings(loaded.transform(texts("text")));
    List<double[]> named = embeddings(loaded.copy(new org.apache.spark.ml.param.ParamMap()).setTextCol("text")
        .transform(texts("text")));
    assertEquals(TEXTS.size(), byDefault.size());
    for (int i = 0; i < TEXTS.size(); i++) {
      assertArrayEquals(named.get(i), byDefault.get(i), TEXTS.get(i));
    }

    // An input with token ids too is read as token ids, as before: here ids that differ from the text's.
    var tokenizer = TokenizerSpec.bert(vocab, BertNormalizer.uncased()).build();
    List<Row> both = new ArrayList<>();
    for (int i = 0; i < TEXTS.size(); i++) {
      int[] ids = tokenizer.encode(TEXTS.get((i + 1) % TEXTS.size()));
      both.add(RowFactory.create(TEXTS.get(i), Arrays.stream(ids).boxed().toList()));
    }
    Dataset<Row> withIds = table(new StructType().add("text", DataTypes.StringType)
        .add("input_ids", DataTypes.createArrayType(DataTypes.IntegerType)), both);
    List<double[]> fromIds = embeddings(loaded.transform(withIds));
    for (int i = 0; i < TEXTS.size(); i++) {
      assertArrayEquals(named.get((i + 1) % TEXTS.size()), fromIds.get(i), 1e-6, "row " + i + " read as its ids");
    }
  }

  @Test
  void anInputWithNeitherIdsNorATextColumnIsRefusedSayingWhatToSet() throws Exception {
    MosaicBertModel loaded = savedAndLoadedMlmModel();
    String scoring = assertThrows(IllegalArgumentException.class, () -> loaded.transform(texts("review")))
        .getMessage();
    assertEquals("the input has neither a column 'input_ids' of token ids (inputIdsCol) nor a string column 'text'; "
        + "to score raw text, name its column: setTextCol(\"...\"); the input's columns: [review]", scoring);
    assertEquals(TEXTS.size(), embeddings(loaded.setTextCol("review").transform(texts("review"))).size(),
        "with textCol set, it scores");

    StructType labelled = new StructType().add("review", DataTypes.StringType).add("label", DataTypes.IntegerType);
    MosaicBertEstimator estimator = new MosaicBertEstimator().setObjective("classification");
    String fineTuning = assertThrows(IllegalArgumentException.class, () -> estimator.transformSchema(labelled))
        .getMessage();
    assertTrue(fineTuning.startsWith("the input has neither a column 'input_ids' of token ids (inputIdsCol) nor a "
        + "string column 'text'; to fine-tune on raw text, name its column: setTextCol(\"...\")"), fineTuning);
  }

  @Test
  void theEstimatorFineTunesOnATextColumnWithoutSetTextColByTheSameRule() throws Exception {
    Path vocabFile = Files.write(tmp.resolve("vocab.txt"), vocab);
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      rows.add(RowFactory.create(TEXTS.get(i % TEXTS.size()), i % 2));
    }
    Dataset<Row> train = table(new StructType().add("text", DataTypes.StringType).add("label",
        DataTypes.IntegerType), rows);
    MosaicBertModel model = new MosaicBertEstimator().setObjective("classification").setVocab(vocabFile.toString())
        .setModelConfig("tiny").setMaxSeqLen(16).setGlobalBatchSize(8).setMaxSteps(2).setThreadsPerWorker(1)
        .fit(train);
    assertEquals("", model.getTextCol());
    List<Row> scored = model.transform(train).select("prediction").collectAsList();
    assertEquals(16, scored.size());
    assertTrue(scored.stream().noneMatch(r -> r.isNullAt(0)), "every text scored");
  }
}
