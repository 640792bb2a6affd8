package org.mosaicbert.ml;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.mosaicbert.config.ModelConfig;

/**
 * The columns a scored row gains, from the scores of its sequences (one, or its windows): classifier: rawPrediction,
 * probability, prediction[, predictedLabel]; regression: prediction; then the embedding when asked for; an MLM model:
 * the embedding. A row's logits and embedding are the mean of its sequences'; the probability and prediction follow
 * from the mean logits.
 */
final class ScoredColumns {
  private final ModelConfig config;
  private final boolean classifier;
  private final Scorer.Embedding embedding;
  private final int addedColumns;

  /** @param addedColumns the columns a row gains (the model's output schema decides them) */
  ScoredColumns(ModelConfig config, boolean classifier, Scorer.Embedding embedding, int addedColumns) {
    this.config = config;
    this.classifier = classifier;
    this.embedding = embedding;
    this.addedColumns = addedColumns;
  }

  /** The input row with its added columns: from {@code scores}, or nulls when {@code scores} is null. */
  Row append(Row row, SequenceScore[] scores) {
    Object[] values = new Object[row.size() + addedColumns];
    for (int c = 0; c < row.size(); c++) {
      values[c] = row.get(c);
    }
    if (scores != null) {
      System.arraycopy(values(scores), 0, values, row.size(), addedColumns);
    }
    return RowFactory.create(values);
  }

  /** The added columns' values from a row's sequences: their logits and embeddings averaged. */
  private Object[] values(SequenceScore[] scores) {
    List<Object> values = new ArrayList<>(5);
    if (classifier) {
      double[] raw = mean(scores, SequenceScore::logits, config.numLabels());
      if (config.isRegression()) {
        values.add(raw[0]);
      } else {
        int argmax = argmax(raw);
        values.add(Vectors.dense(raw));
        values.add(Vectors.dense(softmax(raw, raw[argmax])));
        values.add((double) argmax);
        if (config.labels() != null) {
          values.add(config.labels().get(argmax));
        }
      }
    }
    if (embedding != Scorer.Embedding.NONE) {
      values.add(Vectors.dense(mean(scores, SequenceScore::embedding, config.hiddenSize())));
    }
    return values.toArray();
  }

  /** The mean over the sequences of one part of each (a row scored whole is one sequence: its own values). */
  private static double[] mean(SequenceScore[] scores, Function<SequenceScore, double[]> part, int n) {
    double[] mean = new double[n];
    for (SequenceScore s : scores) {
      double[] values = part.apply(s);
      for (int i = 0; i < n; i++) {
        mean[i] += values[i];
      }
    }
    for (int i = 0; i < n; i++) {
      mean[i] /= scores.length;
    }
    return mean;
  }

  private static int argmax(double[] values) {
    int best = 0;
    for (int k = 1; k < values.length; k++) {
      if (values[k] > values[best]) {
        best = k;
      }
    }
    return best;
  }

  /** Softmax shifted by the largest logit, so no exponent overflows. */
  private static double[] softmax(double[] logits, double max) {
    double[] p = new double[logits.length];
    double sum = 0;
    for (int k = 0; k < p.length; k++) {
      p[k] = Math.exp(logits[k] - max);
      sum += p[k];
    }
    for (int k = 0; k < p.length; k++) {
      p[k] /= sum;
    }
    return p;
  }
}
