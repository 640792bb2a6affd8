package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.ml.PipelineModel;
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

/**
 * Models and PipelineModels saved by an earlier version (src/test/resources/legacy-models, see its README) still
 * load, with their params, and score what that version scored.
 */
class LegacyModelsTest {
  /** The texts the fixture's generator scored, in its order. */
  private static final List<String> TEXTS = List.of(
      "a gorgeous, witty film", "the plot is a mess and the acting is worse", "a warm and funny story",
      "dull, slow and far too long", "the cast is wonderful", "i wanted my money back", "a small delight",
      "a tired, lazy script", "the best film of the year", "nothing works here");

  private static SparkSession spark;
  private static Path fixture;
  private static JsonNode expected;
  private static Dataset<Row> texts;

  @BeforeAll
  static void start() throws Exception {
    spark = SparkSession.builder().master("local[2]").appName("legacy-models-test").config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2").getOrCreate();
    fixture = Path.of(LegacyModelsTest.class.getResource("/legacy-models").toURI());
    expected = new ObjectMapper().readTree(fixture.resolve("expected-scores.json").toFile());
    List<Row> rows = new ArrayList<>();
    TEXTS.forEach(t -> rows.add(RowFactory.create(t)));
    texts = spark.createDataFrame(rows, new StructType().add("text", DataTypes.StringType));
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void anOldModelLoadsWithItsParamsAndGivesTheSameEmbeddings() {
    MosaicBertModel model = MosaicBertModel.load(fixture.resolve("mlm-model").toString());
    assertEquals("text", model.getOrDefault(model.textCol()));
    assertEquals(32, model.getMaxSeqLen());
    assertEquals(2, model.getThreadsPerWorker(), "saved as threads, the model's old name of the thread count");
    assertFalse(model.hasParam("threads"));
    List<Row> scored = model.transform(texts).select("embedding").collectAsList();
    for (int i = 0; i < TEXTS.size(); i++) {
      assertArrayEquals(doubles(expected.get("mlmEmbeddings").get(i)), ((Vector) scored.get(i).get(0)).toArray(),
          1e-6, TEXTS.get(i));
    }
  }

  @Test
  void anOldPipelineModelLoadsAndGivesTheSamePredictions() {
    PipelineModel pipeline = PipelineModel.load(fixture.resolve("classifier-pipeline").toString());
    List<Row> scored = pipeline.transform(texts).collectAsList();
    for (int i = 0; i < TEXTS.size(); i++) {
      Row row = scored.get(i);
      assertArrayEquals(doubles(expected.get("pipelineProbabilities").get(i)),
          ((Vector) row.getAs("probability")).toArray(), 1e-6, TEXTS.get(i));
      assertEquals(expected.get("pipelinePredictedLabels").get(i).asText(), row.getAs("predictedLabel"));
    }
  }

  private static double[] doubles(JsonNode array) {
    double[] values = new double[array.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = array.get(i).asDouble();
    }
    return values;
  }
}
