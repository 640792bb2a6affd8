package org.mosaicbert.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import org.mosaicbert.ml.ModelFolder;
import org.mosaicbert.ml.MosaicBertEstimator;
import org.mosaicbert.ml.TrainingObjective;
import org.mosaicbert.train.TrainingSettings;

/** What {@code finetune} and {@code glue} share: their defaults, and the estimator of a fine-tuning run. */
final class FineTuning {
  /** The GLUE recipe's common settings: 3 epochs, lr 3e-5, weight decay 3e-6, no final learning rate. */
  static final RunSettings.Defaults DEFAULTS = RunSettings.Defaults.training()
      .value(TrainingSettings.MAX_EPOCHS, 3.0)
      .value(TrainingSettings.LR, 3e-5)
      .value(TrainingSettings.WEIGHT_DECAY, 3e-6)
      .value(TrainingSettings.ALPHA_F, 0.0);

  private FineTuning() {}

  /** Fails unless {@code modelDir} is a model folder on this machine's disk (its vocabulary is read here). */
  static void requireLocalModelFolder(String modelDir) {
    if (!Files.exists(Path.of(modelDir, ModelFolder.VOCAB))) {
      throw new IllegalArgumentException(modelDir + " is not a local model folder: it has no " + ModelFolder.VOCAB);
    }
  }

  /**
   * The estimator of one fine-tuning run from the model folder {@code modelDir}: its vocabulary, its config, its
   * tokenizer settings (for random weights too: its vocabulary is only right tokenized that way), starting from the
   * weights of {@code initModel} (empty: random weights); the run's settings are applied by the caller.
   */
  static MosaicBertEstimator estimator(String modelDir, String initModel, TrainingObjective objective, int numLabels,
      String textCol, String pairCol) {
    MosaicBertEstimator estimator = new MosaicBertEstimator().setObjective(objective).setNumLabels(numLabels)
        .setVocab(Path.of(modelDir, ModelFolder.VOCAB).toString())
        .setModelConfig(Path.of(modelDir, ModelFolder.CONFIG).toString())
        .setInitModel(initModel).setTextCol(textCol).setTextPairCol(pairCol);
    Path tokenizerConfig = Path.of(modelDir, ModelFolder.TOKENIZER_CONFIG);
    if (Files.exists(tokenizerConfig)) {
      estimator.setTokenizerConfig(tokenizerConfig.toString());
    }
    return estimator;
  }
}
