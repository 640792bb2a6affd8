package org.mosaicbert.ml;

import org.mosaicbert.model.MosaicBert;

/**
 * What {@link MosaicBertEstimator} trains: its {@code objective} param, a string as MLlib saves it, parsed once into
 * this.
 */
public enum TrainingObjective {
  /** Masked-language-model pretraining on token ids. */
  MLM,
  /** Fine-tuning a classifier on class indices or class names. */
  CLASSIFICATION,
  /** Fine-tuning a regression head on numbers. */
  REGRESSION;

  /** The param's value: the name in lower case ("mlm", "classification", "regression"). */
  public String paramValue() {
    return EnumParams.paramValue(this);
  }

  /** Every param value, for the param's validator and for messages. */
  public static String[] paramValues() {
    return EnumParams.paramValues(TrainingObjective.class);
  }

  /** The objective of a param value. */
  public static TrainingObjective of(String paramValue) {
    return EnumParams.parse(TrainingObjective.class, "objective", paramValue);
  }

  /** Classification or regression: labelled rows, a head on the pooler, weights from initModel. */
  public boolean fineTunes() {
    return this != MLM;
  }

  /** What the engine computes: a regression head is the classifier's path with one output and a squared error. */
  MosaicBert.Objective engineObjective() {
    return this == MLM ? MosaicBert.Objective.MLM : MosaicBert.Objective.CLASSIFICATION;
  }
}
