package org.mosaicbert.ml;

import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.data.HadoopConf;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.train.InitialWeights;

/**
 * A fine-tuning run's initial weights, read by each rank from the {@code initModel} folder (a path every worker sees)
 * rather than sent from the driver: tensors the folder lacks (a fresh pooler and classifier) are drawn from the seed,
 * the same on every rank.
 *
 * @param heads the heads of the model being trained
 */
record InitModelWeights(String folder, HadoopConf conf, ParameterLayout.Heads heads) implements InitialWeights {
  @Override
  public float[] values(ParameterLayout layout, ModelConfig config, long seed) {
    return ModelFolder.read(folder, conf.toConfiguration(), config, heads, seed).parameters();
  }
}
