package org.mosaicbert.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WordPieceTrainerTest {
  @Test
  void specialTokensThenAlphabetThenContinuationsThenMergesByFrequency() {
    // "hug" x10, "pug" x5, "hugs" x5: the most frequent pair is (##u, ##g) = 20, then (h, ##ug) = 15.
    Map<String, Long> words = Map.of("hug", 10L, "pug", 5L, "hugs", 5L);
    List<String> vocab = new WordPieceTrainer(13, 2, 1000, List.of("[PAD]", "[UNK]")).train(words);
    assertEquals(List.of("[PAD]", "[UNK]", "g", "h", "p", "s", "u", "##u", "##g", "##s", "##ug", "hug", "pug"), vocab);
  }

  @Test
  void stopsWhenNoPairReachesTheMinimumFrequency() {
    List<String> vocab = new WordPieceTrainer(100, 2, 1000, List.of("[UNK]")).train(Map.of("ab", 1L, "cd", 3L));
    assertEquals(List.of("[UNK]", "a", "b", "c", "d", "##b", "##d", "cd"), vocab);
  }

  @Test
  void theAlphabetKeepsTheMostFrequentCharacters() {
    List<String> vocab = new WordPieceTrainer(100, 2, 2, List.of()).train(Map.of("aab", 5L, "x", 1L));
    assertEquals(List.of("a", "b", "##a", "##b", "aa", "aab"), vocab);
  }

  @Test
  void trainedVocabularyTokenizesItsWords() {
    List<String> vocab = new WordPieceTrainer(64, 1, 1000, TokenizerLoader.BERT_SPECIAL_TOKENS)
        .train(Map.of("tokenizer", 3L, "tokens", 2L, "token", 4L));
    BertWordPieceTokenizer tokenizer = TokenizerSpec.bert(vocab, BertNormalizer.uncased()).build();
    int[] ids = tokenizer.tokenize("Tokenizer tokens token");
    assertEquals(List.of("tokenizer", "tokens", "token"),
        java.util.Arrays.stream(ids).mapToObj(tokenizer.vocabulary()::token).toList());
  }
}
