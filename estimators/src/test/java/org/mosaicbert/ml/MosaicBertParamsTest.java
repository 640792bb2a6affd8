package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.List;
import org.apache.spark.ml.param.Param;
import org.junit.jupiter.api.Test;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.tokenizer.BertNormalizer;

/** The params the estimator and the model share: one definition, one doc, values handed from one to the other. */
class MosaicBertParamsTest {
  private static final List<String> SHARED = List.of("textCol", "textPairCol", "inputIdsCol", "maxSeqLen",
      "threadsPerWorker");

  private static MosaicBertModel model() {
    ModelConfig config = ModelConfig.preset("tiny", 64);
    ParameterLayout.Heads heads = ParameterLayout.Heads.MLM;
    float[] weights = new float[(int) new ParameterLayout(config, heads).size()];
    return new MosaicBertModel("mosaicbert_test", new ModelFolder(config, heads, weights, List.of("[PAD]"),
        BertNormalizer.uncased()));
  }

  @Test
  void bothStagesHaveEachSharedParamWithTheSameDocAndDefault() {
    MosaicBertEstimator estimator = new MosaicBertEstimator();
    MosaicBertModel model = model();
    for (String name : SHARED) {
      Param<Object> ours = estimator.getParam(name);
      Param<Object> theirs = model.getParam(name);
      assertEquals(ours.doc(), theirs.doc(), name);
      assertEquals(estimator.getDefault(ours), model.getDefault(theirs), name);
      assertEquals(estimator.uid(), ours.parent(), "each stage owns its own instance: " + name);
    }
    assertFalse(model.hasParam("threads"), "one name for the thread count");
    assertEquals(1, java.util.Arrays.stream(model.params()).filter(p -> p.name().equals("threadsPerWorker")).count());
  }

  @Test
  void theEstimatorHandsItsSharedValuesToTheModelItFits() {
    MosaicBertEstimator estimator = new MosaicBertEstimator().setTextCol("review").setTextPairCol("other")
        .setInputIdsCol("ids").setMaxSeqLen(64).setThreadsPerWorker(3);
    // What fit does with the model it returns.
    MosaicBertModel model = estimator.copyValues(model(), estimator.extractParamMap());
    assertEquals("review", model.getTextCol());
    assertEquals("other", model.getTextPairCol());
    assertEquals("ids", model.getInputIdsCol());
    assertEquals(64, model.getMaxSeqLen());
    assertEquals(3, model.getThreadsPerWorker(), "fit's threads per worker score too");
  }

  @Test
  void sharedSettersReturnTheStageSoCallsChain() {
    MosaicBertModel model = model().setThreadsPerWorker(2).setTextCol("text").setBatchSize(8);
    assertEquals("text", model.getTextCol());
    MosaicBertEstimator estimator = new MosaicBertEstimator().setMaxSeqLen(32).setLr(1e-3);
    assertEquals(32, estimator.getMaxSeqLen());
  }

  @Test
  @SuppressWarnings("deprecation")
  void theModelsOldSetterOfTheThreadCountStillWorks() {
    assertEquals(4, model().setThreads(4).getThreadsPerWorker());
  }
}
