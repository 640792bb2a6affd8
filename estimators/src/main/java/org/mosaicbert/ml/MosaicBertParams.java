package org.mosaicbert.ml;

import java.io.Serializable;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.Params;

/**
 * The params that {@link MosaicBertEstimator} and {@link MosaicBertModel} share, declared once, as MLlib's shared
 * params ({@code HasInputCol}, ...) are: how texts or token ids come in, how long a sequence may be, and the threads
 * of a worker. The estimator hands their values to the model it fits ({@code copyValues}); a fitted or loaded model
 * still carries them and can change them. A Java interface holds no fields, so each stage builds its
 * {@link Definitions} in its constructor, once its uid is known, and returns them from {@link #sharedParams()}; the
 * accessors, getters and setters are written here once.
 *
 * @param <S> the stage, which the setters return
 */
public interface MosaicBertParams<S extends MosaicBertParams<S>> extends Params {
  /** This stage's instances of the shared params. */
  Definitions sharedParams();

  // Param accessors: MLlib finds a stage's params through its public no-argument methods that return a Param.
  default Param<String> textCol() { return sharedParams().textCol; }
  default Param<String> textPairCol() { return sharedParams().textPairCol; }
  default Param<String> inputIdsCol() { return sharedParams().inputIdsCol; }
  default IntParam maxSeqLen() { return sharedParams().maxSeqLen; }
  default IntParam threadsPerWorker() { return sharedParams().threadsPerWorker; }

  default String getTextCol() { return getOrDefault(textCol()); }
  default String getTextPairCol() { return getOrDefault(textPairCol()); }
  default String getInputIdsCol() { return getOrDefault(inputIdsCol()); }
  default int getMaxSeqLen() { return (Integer) getOrDefault(maxSeqLen()); }
  default int getThreadsPerWorker() { return (Integer) getOrDefault(threadsPerWorker()); }

  default S setTextCol(String value) { return setShared(textCol(), value); }
  default S setTextPairCol(String value) { return setShared(textPairCol(), value); }
  default S setInputIdsCol(String value) { return setShared(inputIdsCol(), value); }
  default S setMaxSeqLen(int value) { return setShared(maxSeqLen(), value); }
  default S setThreadsPerWorker(int value) { return setShared(threadsPerWorker(), value); }

  @SuppressWarnings("unchecked")
  private <T> S setShared(Param<T> param, T value) {
    set(param, value);
    return (S) this;
  }

  /** The shared params of one stage, with their one doc, validator and default each. */
  final class Definitions implements Serializable {
    final Param<String> textCol;
    final Param<String> textPairCol;
    final Param<String> inputIdsCol;
    final IntParam maxSeqLen;
    final IntParam threadsPerWorker;

    /** Builds the params of {@code stage} (whose uid must be set: a Param copies it) and sets their defaults. */
    Definitions(Params stage) {
      textCol = new Param<>(stage, "textCol", "text column, tokenized inside the stage with the model's vocabulary "
          + "and casing (fine-tuning and scoring; empty: use inputIdsCol)");
      textPairCol = new Param<>(stage, "textPairCol", "second text column of a pair task (empty: single texts)");
      inputIdsCol = new Param<>(stage, "inputIdsCol", "column of token ids, array<int>, [CLS] ... [SEP]: what MLM "
          + "pretraining reads, and fine-tuning and scoring when textCol is empty");
      maxSeqLen = new IntParam(stage, "maxSeqLen", "longest sequence in tokens, [CLS] and [SEP] included: texts are "
          + "cut to it, longer token ids are refused in training (default 256, the GLUE recipe's; pretraining shards "
          + "are 128)", ParamValidators.gtEq(2));
      threadsPerWorker = new IntParam(stage, "threadsPerWorker", "CPU threads of each worker: a barrier task of "
          + "fit, a scoring task of transform (set spark.task.cpus to it)", ParamValidators.gtEq(1));
      stage.setDefault(textCol, "");
      stage.setDefault(textPairCol, "");
      stage.setDefault(inputIdsCol, "input_ids");
      stage.setDefault(maxSeqLen, 256);
      stage.setDefault(threadsPerWorker, 1);
    }
  }
}
