package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TrainingObjectiveTest {
  @Test
  void theParamValuesAreTheLowerCaseNamesAndParseBack() {
    assertArrayEquals(new String[] {"mlm", "classification", "regression"}, TrainingObjective.paramValues());
    for (TrainingObjective objective : TrainingObjective.values()) {
      assertEquals(objective, TrainingObjective.of(objective.paramValue()));
    }
    String message = assertThrows(IllegalArgumentException.class, () -> TrainingObjective.of("MLM")).getMessage();
    assertTrue(message.contains("objective must be one of [mlm, classification, regression], not 'MLM'"), message);
  }

  @Test
  void theEstimatorTakesTheEnumOrItsParamValue() {
    MosaicBertEstimator estimator = new MosaicBertEstimator();
    assertEquals(TrainingObjective.MLM, estimator.getObjective(), "the default");
    assertEquals("regression", estimator.setObjective(TrainingObjective.REGRESSION).getOrDefault(estimator.objective()));
    assertEquals(TrainingObjective.CLASSIFICATION, estimator.setObjective("classification").getObjective());
    assertThrows(IllegalArgumentException.class, () -> estimator.setObjective("ner"), "the param's validator");
  }
}
