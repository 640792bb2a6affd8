package org.mosaicbert.train;

import java.io.Serializable;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.ParameterLayout;

/**
 * Where a run's weights start when there is no checkpoint to resume from; asked by each rank, and only then, so that
 * a resumed run reads nothing it does not use and no rank needs the weights sent to it.
 */
@FunctionalInterface
public interface InitialWeights extends Serializable {
  /** The flat weights of {@code layout}, in its order. */
  float[] values(ParameterLayout layout, ModelConfig config, long seed);

  /** A fresh initialisation from the seed ({@link ModelWeights#initial}): the same on every rank. */
  static InitialWeights fromSeed() {
    return ModelWeights::initial;
  }
}
