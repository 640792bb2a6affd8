package org.mosaicbert.glue;

import java.util.Arrays;

/**
 * The recipe's metrics (torchmetrics' definitions): accuracy; binary F1 of class 1; Matthews correlation (the
 * multiclass form); Pearson and Spearman correlation (Spearman on average ranks, so ties count as in scipy).
 */
public final class GlueMetrics {
  private GlueMetrics() {}

  public static double compute(GlueTask.Metric metric, double[] predictions, double[] labels) {
    if (predictions.length != labels.length || predictions.length == 0) {
      throw new IllegalArgumentException(predictions.length + " predictions for " + labels.length + " labels");
    }
    return switch (metric) {
      case ACCURACY -> accuracy(predictions, labels);
      case F1 -> f1(predictions, labels);
      case MCC -> matthews(predictions, labels);
      case PEARSON -> pearson(predictions, labels);
      case SPEARMAN -> pearson(ranks(predictions), ranks(labels));
    };
  }

  static double accuracy(double[] p, double[] y) {
    int hits = 0;
    for (int i = 0; i < p.length; i++) {
      hits += p[i] == y[i] ? 1 : 0;
    }
    return (double) hits / p.length;
  }

  static double f1(double[] p, double[] y) {
    long tp = 0;
    long fp = 0;
    long fn = 0;
    for (int i = 0; i < p.length; i++) {
      boolean predicted = p[i] == 1;
      boolean actual = y[i] == 1;
      tp += predicted && actual ? 1 : 0;
      fp += predicted && !actual ? 1 : 0;
      fn += !predicted && actual ? 1 : 0;
    }
    return tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
  }

  /** Multiclass MCC: (c·s − Σ p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²)), c correct, s samples. */
  static double matthews(double[] p, double[] y) {
    int classes = (int) Math.max(Arrays.stream(p).max().orElse(0), Arrays.stream(y).max().orElse(0)) + 1;
    double[] predicted = new double[classes];
    double[] actual = new double[classes];
    double correct = 0;
    for (int i = 0; i < p.length; i++) {
      predicted[(int) p[i]]++;
      actual[(int) y[i]]++;
      correct += p[i] == y[i] ? 1 : 0;
    }
    double s = p.length;
    double pt = 0;
    double pp = 0;
    double tt = 0;
    for (int k = 0; k < classes; k++) {
      pt += predicted[k] * actual[k];
      pp += predicted[k] * predicted[k];
      tt += actual[k] * actual[k];
    }
    double denominator = Math.sqrt((s * s - pp) * (s * s - tt));
    return denominator == 0 ? 0 : (correct * s - pt) / denominator;
  }

  static double pearson(double[] a, double[] b) {
    double ma = Arrays.stream(a).average().orElse(0);
    double mb = Arrays.stream(b).average().orElse(0);
    double cov = 0;
    double va = 0;
    double vb = 0;
    for (int i = 0; i < a.length; i++) {
      cov += (a[i] - ma) * (b[i] - mb);
      va += (a[i] - ma) * (a[i] - ma);
      vb += (b[i] - mb) * (b[i] - mb);
    }
    return va == 0 || vb == 0 ? 0 : cov / Math.sqrt(va * vb);
  }

  /** Ranks from 1, ties sharing their average rank. */
  static double[] ranks(double[] values) {
    Integer[] order = new Integer[values.length];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (x, z) -> Double.compare(values[x], values[z]));
    double[] ranks = new double[values.length];
    for (int i = 0; i < order.length; ) {
      int j = i;
      while (j + 1 < order.length && values[order[j + 1]] == values[order[i]]) {
        j++;
      }
      double average = (i + j) / 2.0 + 1;
      for (int k = i; k <= j; k++) {
        ranks[order[k]] = average;
      }
      i = j + 1;
    }
    return ranks;
  }
}
