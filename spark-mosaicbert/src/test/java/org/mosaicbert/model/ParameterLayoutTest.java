package org.mosaicbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import org.junit.jupiter.api.Test;
import org.mosaicbert.config.ModelConfig;

class ParameterLayoutTest {
  @Test
  void theBasePresetHasTheReleasedParameterCount() {
    ModelConfig base = ModelConfig.preset("base", 30522);
    assertEquals(30528, base.vocabSize());
    ParameterLayout mlm = new ParameterLayout(base, ParameterLayout.Heads.MLM);
    assertEquals(137_400_384L, mlm.size());
    assertFalse(mlm.has("cls.predictions.decoder.weight"), "tied to the word embeddings");
    assertFalse(mlm.has("bert.pooler.dense.weight"), "an MLM model has no pooler");
  }
}
