package org.mosaicbert.ml;

import java.io.Serializable;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.mosaicbert.train.TrainingSettings;

/**
 * The params that {@link MosaicBertEstimator} and {@link MosaicBertModel} share, declared once, as MLlib's shared
 * params ({@code HasInputCol}, ...) are: how texts or token ids come in, how long a sequence may be, the threads of a
 * worker and the device it runs on. The estimator hands their values to the model it fits ({@code copyValues}); a
 * fitted or loaded model still carries them and can change them. A Java interface holds no fields, so each stage builds its
 * {@link Definitions} in its constructor, once its uid is known, and returns them from {@link #sharedParams()}; the
 * accessors, getters and setters are written here once.
 *
 * @param <S> the stage, which the setters return
 */
public interface MosaicBertParams<S extends MosaicBertParams<S>> extends Params {
  /** The text column read when textCol is empty and the input has no inputIdsCol. */
  String DEFAULT_TEXT_COL = "text";

  /** This stage's instances of the shared params. */
  Definitions sharedParams();

  // Param accessors: MLlib finds a stage's params through its public no-argument methods that return a Param.
  default Param<String> textCol() { return sharedParams().textCol; }
  default Param<String> textPairCol() { return sharedParams().textPairCol; }
  default Param<String> inputIdsCol() { return sharedParams().inputIdsCol; }
  default IntParam maxSeqLen() { return (IntParam) sharedParams().settings.of(TrainingSettings.MAX_SEQ_LEN); }
  default IntParam threadsPerWorker() {
    return (IntParam) sharedParams().settings.of(TrainingSettings.THREADS_PER_WORKER);
  }
  @SuppressWarnings("unchecked")
  default Param<String> device() {
    return (Param<String>) (Param<?>) sharedParams().settings.of(TrainingSettings.DEVICE);
  }

  default String getTextCol() { return getOrDefault(textCol()); }
  default String getTextPairCol() { return getOrDefault(textPairCol()); }
  default String getInputIdsCol() { return getOrDefault(inputIdsCol()); }
  default int getMaxSeqLen() { return (Integer) getOrDefault(maxSeqLen()); }
  default int getThreadsPerWorker() { return (Integer) getOrDefault(threadsPerWorker()); }
  default String getDevice() { return getOrDefault(device()); }

  default S setTextCol(String value) { return setShared(textCol(), value); }
  default S setTextPairCol(String value) { return setShared(textPairCol(), value); }
  default S setInputIdsCol(String value) { return setShared(inputIdsCol(), value); }
  default S setMaxSeqLen(int value) { return setShared(maxSeqLen(), value); }
  default S setThreadsPerWorker(int value) { return setShared(threadsPerWorker(), value); }
  default S setDevice(String value) { return setShared(device(), value); }

  /**
   * The text column this stage reads from an input of {@code schema}, or "" when it reads token ids: textCol when it
   * is set; else none when the input has the inputIdsCol column; else its string column named
   * {@value #DEFAULT_TEXT_COL}, so that a pretrained model scores a table of texts as it is. An input with neither is
   * refused, saying what to set. The estimator (fine-tuning) and the model (scoring) both follow this rule.
   *
   * @param doing what the stage does with the input, for the error ("score", "fine-tune on")
   */
  default String textColumnIn(StructType schema, String doing) {
    if (!getTextCol().isEmpty()) {
      return getTextCol();
    }
    List<String> names = Arrays.asList(schema.fieldNames());
    if (names.contains(getInputIdsCol())) {
      return "";
    }
    if (names.contains(DEFAULT_TEXT_COL) && schema.apply(DEFAULT_TEXT_COL).dataType().equals(DataTypes.StringType)) {
      return DEFAULT_TEXT_COL;
    }
    throw new IllegalArgumentException("the input has neither a column '" + getInputIdsCol() + "' of token ids "
        + "(inputIdsCol) nor a string column '" + DEFAULT_TEXT_COL + "'; to " + doing + " raw text, name its column: "
        + "setTextCol(\"...\"); the input's columns: " + names);
  }

  @SuppressWarnings("unchecked")
  private <T> S setShared(Param<T> param, T value) {
    set(param, value);
    return (S) this;
  }

  /**
   * The shared params of one stage, with their one doc, validator and default each: the column params here, the
   * length, the threads and the device from their declarations as training settings.
   */
  final class Definitions implements Serializable {
    final Param<String> textCol;
    final Param<String> textPairCol;
    final Param<String> inputIdsCol;
    final SettingParams settings;

    /** Builds the params of {@code stage} (whose uid must be set: a Param copies it) and sets their defaults. */
    Definitions(Params stage) {
      textCol = new Param<>(stage, "textCol", "text column, tokenized inside the stage with the model's vocabulary "
          + "and casing (fine-tuning and scoring; empty: inputIdsCol, or where the input has no such column, its "
          + "string column text)");
      textPairCol = new Param<>(stage, "textPairCol", "second text column of a pair task (empty: single texts)");
      inputIdsCol = new Param<>(stage, "inputIdsCol", "column of token ids, array<int>, [CLS] ... [SEP]: what MLM "
          + "pretraining reads, and fine-tuning and scoring when textCol is empty");
      stage.setDefault(textCol, "");
      stage.setDefault(textPairCol, "");
      stage.setDefault(inputIdsCol, "input_ids");
      settings = new SettingParams(stage, List.of(TrainingSettings.MAX_SEQ_LEN, TrainingSettings.THREADS_PER_WORKER,
          TrainingSettings.DEVICE));
    }
  }
}
