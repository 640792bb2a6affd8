package org.mosaicbert.train;

import java.io.Serializable;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;

/**
 * Everything every rank must agree on, fixed on the driver before training starts.
 *
 * @param objective MLM (pretraining) or CLASSIFICATION (fine-tuning; regression when the config has one label)
 * @param samplesPerEpoch the dataset's size; step k's global batch is samples [k·G, (k+1)·G) of the sample stream
 * @param tokenizerVocabSize ids that masking may draw as random replacements (the tokenizer's, not the padded size)
 */
public record TrainPlan(MosaicBert.Objective objective, ModelConfig config, DecoupledAdamW.Hyper hyper, long totalSteps, double warmupFraction,
    double alphaF, int globalBatchSize, int microBatchSize, int numWorkers, long seed, double maskProbability,
    int maskId, int tokenizerVocabSize, int[] specialIds, int maxSeqLen, long samplesPerEpoch, int checkpointEvery,
    int metricsEvery, int threadsPerWorker) implements Serializable {

  public TrainPlan {
    if (objective == MosaicBert.Objective.ENCODE) {
      throw new IllegalArgumentException("training needs a loss: objective MLM or CLASSIFICATION");
    }
    if (globalBatchSize % numWorkers != 0) {
      throw new IllegalArgumentException("globalBatchSize " + globalBatchSize + " is not a multiple of numWorkers "
          + numWorkers + ": every worker takes the same share of each step");
    }
    if (microBatchSize < 1 || microBatchSize > globalBatchSize / numWorkers) {
      throw new IllegalArgumentException("microBatchSize must be in 1.." + globalBatchSize / numWorkers
          + " (the per-worker batch), got " + microBatchSize);
    }
    if (samplesPerEpoch < 1) {
      throw new IllegalArgumentException("the dataset is empty: there is nothing to train on");
    }
    if (totalSteps < 1) {
      throw new IllegalArgumentException("maxSteps must be at least 1, got " + totalSteps);
    }
  }

  /** The heads the trained model carries. */
  public ParameterLayout.Heads heads() {
    return objective == MosaicBert.Objective.MLM ? ParameterLayout.Heads.MLM : ParameterLayout.Heads.CLASSIFIER;
  }

  public int perWorkerBatch() {
    return globalBatchSize / numWorkers;
  }

  public LinearWithWarmup schedule() {
    return LinearWithWarmup.ofFraction(warmupFraction, totalSteps, alphaF);
  }

  public MlmMasking masking() {
    return new MlmMasking(maskProbability, maskId, tokenizerVocabSize, specialIds, seed);
  }
}
