package org.mosaicbert.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.testing.TestCorpora;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.TokenizerLoader;
import org.mosaicbert.tokenizer.TokenizerSpec;
import org.mosaicbert.tokenizer.WordPieceTrainer;

/** Training works: a tiny MosaicBERT pretrained on the C4 sample drives the MLM loss far below ln(vocabulary). */
class MlmTrainingOnC4Test {
  @Test
  void aTinyModelLearnsTheC4Sample() {
    List<String> docs = TestCorpora.c4Documents();
    Map<String, Long> words = new HashMap<>();
    for (String doc : docs) {
      BertWordPieceTokenizer.forEachWord(BertNormalizer.uncased(), doc, w -> words.merge(w, 1L, Long::sum));
    }
    List<String> vocab = new WordPieceTrainer(2048, 2, 1000, TokenizerLoader.BERT_SPECIAL_TOKENS).train(words);
    BertWordPieceTokenizer tokenizer = TokenizerSpec.bert(vocab, BertNormalizer.uncased()).build();
    int seqLen = 64;
    List<Sample> samples = new ArrayList<>();
    for (int i = 0; i < docs.size(); i++) {
      samples.add(new Sample(i, tokenizer.encode(docs.get(i), seqLen)));
    }
    ModelConfig config = ModelConfig.preset("tiny", vocab.size());
    SettingValues settings = SettingValues.defaults().with(TrainingSettings.LR, 2e-3);
    MlmMasking masking = MlmMasking.of(settings, new MlmMasking.Tokens(tokenizer.vocabulary().id("[MASK]"),
        vocab.size(), new int[] {0, tokenizer.clsId(), tokenizer.sepId()}));
    int batchSize = 16;
    int steps = 400;
    LinearWithWarmup schedule = LinearWithWarmup.of(settings, steps);
    List<Double> losses = new ArrayList<>();
    try (MosaicBert model = new MosaicBert(config, ParameterLayout.Heads.MLM, new CpuBackend(2),
        new MosaicBert.Capacity(batchSize * seqLen, batchSize, seqLen, batchSize * seqLen))) {
      model.setAllParameters(ModelWeights.initial(model.layout(), model.config(), 17));
      DecoupledAdamW adamw = new DecoupledAdamW(model.backend(), model.layout().size(),
          DecoupledAdamW.Hyper.of(settings));
      for (int step = 0; step < steps; step++) {
        int from = step * batchSize % (samples.size() - batchSize);
        List<Sample> batch = samples.subList(from, from + batchSize);
        model.zeroGradients();
        MosaicBert.Loss loss = model.forward(Batches.mlm(batch, masking, step), MosaicBert.Objective.MLM,
            new MosaicBert.Randomness(17, step));
        model.backward(loss.count());
        adamw.step(model.parameters(), model.gradients(), schedule.factor(step));
        losses.add(loss.sum() / loss.count());
      }
    }
    double first = losses.subList(0, 10).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    double last = losses.subList(steps - 20, steps).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    System.err.printf("tiny MLM on C4: loss %.3f (ln %d = %.3f) -> %.3f after %d steps%n", first, vocab.size(),
        Math.log(vocab.size()), last, steps);
    assertTrue(first > Math.log(vocab.size()) - 0.5, "starts near ln(vocabulary): " + first);
    assertTrue(last < first - 1.2, "the loss falls well below its start: " + first + " -> " + last);
  }
}
