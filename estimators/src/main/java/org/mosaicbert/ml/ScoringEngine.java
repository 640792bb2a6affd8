package org.mosaicbert.ml;

import java.util.List;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.train.Batches;
import org.mosaicbert.train.Sample;

/**
 * Inference for scoring: the model's engine, its parameters uploaded and its activations sized for the given
 * batches, and what a batch's sequences score (logits for a classifier, the embedding when one is asked for).
 */
final class ScoringEngine implements AutoCloseable {
  private final MosaicBert engine;
  private final ModelConfig config;
  private final boolean classifier;
  private final Scorer.Embedding embedding;

  /** Owns {@code backend} from here on: {@link #close} frees it. */
  ScoringEngine(ModelFolder model, Backend backend, ScoringBatches batches, Precision precision,
      Scorer.Embedding embedding) {
    this.config = model.config();
    this.classifier = model.heads() == ParameterLayout.Heads.CLASSIFIER;
    this.embedding = embedding;
    int maxBatchTokens = batches.maxBatchTokens();
    engine = new MosaicBert(config, model.heads(), backend, new MosaicBert.Capacity(maxBatchTokens,
        Math.min(batches.batchSize(), maxBatchTokens), maxBatchTokens, 0), MosaicBert.Mode.INFERENCE);
    engine.setAllParameters(model.parameters());
    engine.setPrecision(precision);
    // A head's scores need the last layer on the [CLS] rows alone (the default); mean-pooled embeddings need it on
    // every row.
    engine.setLastLayerOnHeadRows(embedding != Scorer.Embedding.MEAN);
  }

  /**
   * Bytes the weights take in a scoring task: the float32 parameters, and beside them the encoder's linear weights
   * at the precision (bf16: rounded float32 copies; int8: a byte each), all counted as if every parameter had one.
   */
  static long weightBytes(ModelFolder model, Precision precision) {
    long floats = model.parameters().length;
    return switch (precision) {
      case FP32 -> 4 * floats;
      case BF16 -> 8 * floats;
      case INT8 -> 5 * floats;
    };
  }

  /** Scores one batch: the score of each sequence goes to {@code scores[sampleId]}. */
  void score(List<Sample> batch, SequenceScore[] scores) {
    var unpadded = Batches.labelled(batch);
    engine.forward(unpadded, classifier ? MosaicBert.Objective.CLASSIFICATION : MosaicBert.Objective.ENCODE, null);
    int labels = config.numLabels();
    int hidden = config.hiddenSize();
    float[] logits = classifier ? engine.classifierLogits() : null;
    float[] states = embedding == Scorer.Embedding.MEAN ? engine.lastHiddenState() : null;
    float[] pooled = embedding == Scorer.Embedding.POOLED ? engine.pooledOutput() : null;
    int[] cu = unpadded.cuSeqlens();
    for (int s = 0; s < batch.size(); s++) {
      double[] sequenceLogits = null;
      if (logits != null) {
        sequenceLogits = new double[labels];
        for (int k = 0; k < labels; k++) {
          sequenceLogits[k] = logits[s * labels + k];
        }
      }
      double[] vector = null;
      if (embedding == Scorer.Embedding.MEAN) {
        vector = new double[hidden];
        for (int t = cu[s]; t < cu[s + 1]; t++) {
          for (int c = 0; c < hidden; c++) {
            vector[c] += states[t * hidden + c];
          }
        }
        for (int c = 0; c < hidden; c++) {
          vector[c] /= cu[s + 1] - cu[s];
        }
      } else if (embedding == Scorer.Embedding.POOLED) {
        vector = new double[hidden];
        for (int c = 0; c < hidden; c++) {
          vector[c] = pooled[s * hidden + c];
        }
      }
      scores[(int) batch.get(s).sampleId()] = new SequenceScore(sequenceLogits, vector);
    }
  }

  @Override
  public void close() {
    engine.close();
  }
}
