package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

class GlueEvaluatorTest {
  @Test
  void agreesWithSparksOwnEvaluatorOnAccuracyAndScoresMcc() {
    SparkSession spark = SparkSession.builder().master("local[2]").appName("glue-eval")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
    try {
      SplittableRandom rnd = new SplittableRandom(5);
      List<Row> rows = new ArrayList<>();
      for (int i = 0; i < 500; i++) {
        double label = rnd.nextInt(2);
        double prediction = rnd.nextDouble() < 0.8 ? label : 1 - label;
        rows.add(RowFactory.create(prediction, label));
      }
      rows.add(RowFactory.create(1.0, null)); // a test-file row: no label, not scored
      Dataset<Row> df = spark.createDataFrame(rows, new StructType().add("prediction", DataTypes.DoubleType)
          .add("label", DataTypes.DoubleType));
      double ours = new GlueEvaluator().evaluate(df);
      double sparks = new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(df.na().drop());
      assertEquals(sparks, ours, 1e-12);
      double mcc = new GlueEvaluator().setMetricName("mcc").evaluate(df);
      assertEquals(2 * ours - 1, mcc, 0.05, "balanced binary labels: MCC is about 2·accuracy − 1");
    } finally {
      spark.stop();
    }
  }
}
