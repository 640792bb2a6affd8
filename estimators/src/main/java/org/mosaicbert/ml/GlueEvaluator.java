package org.mosaicbert.ml;

import java.util.List;
import java.util.Locale;
import org.apache.spark.ml.evaluation.Evaluator;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.mosaicbert.glue.GlueMetrics;
import org.mosaicbert.glue.GlueTask;

/**
 * A Spark ML {@code Evaluator} with the GLUE recipe's metrics: accuracy, f1 (binary, class 1), mcc (Matthews),
 * pearson, spearman. Rows with a null label (GLUE test files) are left out.
 */
public final class GlueEvaluator extends Evaluator implements DefaultParamsWritable {
  private final String uid;
  private final Param<String> metricName;
  private final Param<String> predictionCol;
  private final Param<String> labelCol;

  public GlueEvaluator() {
    this(Identifiable$.MODULE$.randomUID("glueEval"));
  }

  public GlueEvaluator(String uid) {
    SparkRelease.requireParamConstructors();
    this.uid = uid;
    metricName = new Param<>(this, "metricName", "accuracy, f1, mcc, pearson or spearman",
        ParamValidators.inArray(new String[] {"accuracy", "f1", "mcc", "pearson", "spearman"}));
    predictionCol = new Param<>(this, "predictionCol", "prediction column (double)");
    labelCol = new Param<>(this, "labelCol", "label column (double)");
    setDefault(metricName, "accuracy");
    setDefault(predictionCol, "prediction");
    setDefault(labelCol, "label");
  }

  @Override
  public String uid() {
    return uid;
  }

  public Param<String> metricName() { return metricName; }
  public Param<String> predictionCol() { return predictionCol; }
  public Param<String> labelCol() { return labelCol; }

  public GlueEvaluator setMetricName(String v) { set(metricName, v); return this; }
  public GlueEvaluator setPredictionCol(String v) { set(predictionCol, v); return this; }
  public GlueEvaluator setLabelCol(String v) { set(labelCol, v); return this; }

  @Override
  public double evaluate(Dataset<?> dataset) {
    String p = getOrDefault(predictionCol);
    String y = getOrDefault(labelCol);
    for (String col : new String[] {p, y}) {
      if (!java.util.Arrays.asList(dataset.columns()).contains(col)) {
        throw new IllegalArgumentException("the dataset has no column '" + col + "'; its columns: "
            + java.util.Arrays.toString(dataset.columns()));
      }
    }
    List<Row> rows = dataset.toDF().select(dataset.col(p).cast("double"), dataset.col(y).cast("double"))
        .na().drop().collectAsList();
    double[] predictions = rows.stream().mapToDouble(r -> r.getDouble(0)).toArray();
    double[] labels = rows.stream().mapToDouble(r -> r.getDouble(1)).toArray();
    return GlueMetrics.compute(GlueTask.Metric.valueOf(getOrDefault(metricName).toUpperCase(Locale.ROOT)),
        predictions, labels);
  }

  @Override
  public boolean isLargerBetter() {
    return true;
  }

  @Override
  public GlueEvaluator copy(ParamMap extra) {
    return defaultCopy(extra);
  }

  public static MLReader<GlueEvaluator> read() {
    return new DefaultParamsReader<>();
  }

  public static GlueEvaluator load(String path) {
    return read().load(path);
  }
}
