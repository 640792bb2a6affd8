package org.mosaicbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;

/**
 * The engine refuses an id that does not index its table (word embeddings, token types, the MLM decoder), naming the
 * sequence, the position and the table's size, whoever made the batch: no id reaches the embedding unchecked.
 */
class IdsOutsideTheTablesTest {
  private static final ModelConfig CONFIG = new ModelConfig(50, 32, 1, 2, 48, 2, 1e-12, 0.1, 0.0, -1, 0.3, 3, null, 0,
      64, 64, null);
  private static final MosaicBert.Capacity CAP = new MosaicBert.Capacity(64, 4, 32, 64);

  private static MosaicBert model() {
    MosaicBert m = new MosaicBert(CONFIG, ParameterLayout.Heads.BOTH, new CpuBackend(1), CAP,
        MosaicBert.Mode.TRAINING);
    m.setAllParameters(ModelWeights.initial(m.layout(), m.config(), 5));
    return m;
  }

  /** Two sequences of 6 and 9 tokens with valid ids, then one id of sequence 1 at position 4 replaced. */
  private static UnpaddedBatch withInput(int id, int type) {
    UnpaddedBatch b = RandomBatches.of(new int[] {6, 9}, CONFIG, new SplittableRandom(1), 0.3, true);
    b.inputIds()[6 + 4] = id;
    b.tokenTypeIds()[6 + 4] = type;
    return b;
  }

  private static String refused(UnpaddedBatch batch, MosaicBert.Objective objective) {
    try (MosaicBert m = model()) {
      return assertThrows(IllegalArgumentException.class, () -> m.forward(batch, objective, null)).getMessage();
    }
  }

  @Test
  void aTokenIdPastTheWordEmbeddingsIsRefusedNamingWhere() {
    assertEquals("token id 50 at position 4 of sequence 1 (sample id 1001) is outside the model's table of 50 rows "
        + "(vocab_size): ids must come from the model's own vocabulary",
        refused(withInput(50, 0), MosaicBert.Objective.ENCODE));
    assertEquals("token id -1 at position 4 of sequence 1 (sample id 1001) is outside the model's table of 50 rows "
        + "(vocab_size): ids must come from the model's own vocabulary",
        refused(withInput(-1, 0), MosaicBert.Objective.CLASSIFICATION));
  }

  @Test
  void aTokenTypeIdPastItsTableIsRefused() {
    assertEquals("token type id 2 at position 4 of sequence 1 (sample id 1001) is outside the model's table of 2 "
        + "rows (type_vocab_size): ids must come from the model's own vocabulary",
        refused(withInput(7, 2), MosaicBert.Objective.ENCODE));
  }

  @Test
  void anMlmLabelPastTheDecoderIsRefused() {
    UnpaddedBatch b = RandomBatches.of(new int[] {6, 9}, CONFIG, new SplittableRandom(1), 0.3, false);
    int last = b.mlmLabels().length - 1; // the last row of sequence 1 is always masked
    b.mlmLabels()[last] = 64;
    assertEquals("MLM label 64 at position 8 of sequence 1 (sample id 1001) is outside the model's table of 50 rows "
        + "(vocab_size): ids must come from the model's own vocabulary", refused(b, MosaicBert.Objective.MLM));
  }

  @Test
  void idsAtTheEdgeOfTheTablesAreScored() {
    try (MosaicBert m = model()) {
      m.forward(withInput(CONFIG.vocabSize() - 1, CONFIG.typeVocabSize() - 1), MosaicBert.Objective.ENCODE, null);
      assertEquals(15 * CONFIG.hiddenSize(), m.lastHiddenState().length);
    }
  }
}
