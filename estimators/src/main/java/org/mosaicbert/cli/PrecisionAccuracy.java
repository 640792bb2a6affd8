package org.mosaicbert.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.ml.GlueEvaluator;
import org.mosaicbert.ml.MosaicBertModel;
import org.mosaicbert.model.ParameterLayout;

/**
 * {@code bench --precisions --model DIR --input FILE}: a model's scores of the same rows at each precision beside
 * float32's: the embeddings' cosine to float32's (an MLM model), the share of predictions that change and the largest
 * change of a probability or regression value (a fine-tuned model), and the task's dev metrics when the rows have
 * labels (a GLUE TSV with --task).
 */
final class PrecisionAccuracy {
  private PrecisionAccuracy() {}

  private static final String ROW = "__row";

  static void run(MosaicBertModel model, Dataset<Row> rows, GlueTask task, PrintStream out) {
    boolean classifier = model.folder().heads() == ParameterLayout.Heads.CLASSIFIER;
    boolean regression = classifier && model.folder().config().isRegression();
    Dataset<Row> numbered = rows.withColumn(ROW, functions.monotonically_increasing_id()).cache();
    List<Row> fp32 = null;
    out.printf("%d rows; each precision beside fp32:%n", numbered.count());
    for (Precision p : Precision.values()) {
      Dataset<Row> scored = model.setPrecision(p.value()).transform(numbered).cache();
      List<Row> got = scored.orderBy(ROW).select(classifier ? (regression ? "prediction" : "probability")
          : "embedding").collectAsList();
      fp32 = fp32 == null ? got : fp32;
      StringBuilder line = new StringBuilder(String.format("  %-4s", p.value()));
      if (classifier) {
        line.append(compareHeads(fp32, got, regression));
      } else {
        double[] cos = cosines(fp32, got);
        line.append(String.format("  embeddings' cosine to fp32: min %.6f, mean %.6f", Arrays.stream(cos).min()
            .orElse(Double.NaN), Arrays.stream(cos).average().orElse(Double.NaN)));
      }
      if (task != null && classifier) {
        for (GlueTask.Metric metric : task.metrics()) {
          line.append(String.format("  %s %.4f", metric.key(), new GlueEvaluator().setMetricName(metric.key())
              .evaluate(scored)));
        }
      }
      out.println(line);
      scored.unpersist();
    }
    numbered.unpersist();
    model.setPrecision(Precision.FP32.value());
  }

  /** The share of predicted classes that differ from fp32's, and the largest change of a probability or value. */
  private static String compareHeads(List<Row> fp32, List<Row> got, boolean regression) {
    int changed = 0;
    int compared = 0;
    double largest = 0;
    for (int i = 0; i < got.size(); i++) {
      if (got.get(i).isNullAt(0) || fp32.get(i).isNullAt(0)) {
        continue; // a row without text has no prediction at any precision
      }
      compared++;
      if (regression) {
        largest = Math.max(largest, Math.abs(got.get(i).getDouble(0) - fp32.get(i).getDouble(0)));
      } else {
        Vector a = (Vector) got.get(i).get(0);
        Vector b = (Vector) fp32.get(i).get(0);
        changed += a.argmax() == b.argmax() ? 0 : 1;
        for (int k = 0; k < a.size(); k++) {
          largest = Math.max(largest, Math.abs(a.apply(k) - b.apply(k)));
        }
      }
    }
    return regression ? String.format("  largest change of a prediction %.5f", largest)
        : String.format("  predictions changed %d of %d (%.2f%%), largest change of a probability %.5f", changed,
            compared, 100.0 * changed / Math.max(1, compared), largest);
  }

  private static double[] cosines(List<Row> fp32, List<Row> got) {
    List<Double> out = new ArrayList<>();
    for (int i = 0; i < got.size(); i++) {
      if (got.get(i).isNullAt(0) || fp32.get(i).isNullAt(0)) {
        continue;
      }
      Vector a = (Vector) got.get(i).get(0);
      Vector b = (Vector) fp32.get(i).get(0);
      out.add(a.dot(b) / Math.sqrt(a.dot(a) * b.dot(b)));
    }
    return out.stream().mapToDouble(Double::doubleValue).toArray();
  }
}
