package org.mosaicbert.tokenizer;

import java.io.Serializable;
import java.util.List;

/**
 * Everything that defines a tokenizer, as plain serializable data: what a Spark job broadcasts so that each
 * partition builds its own {@link BertWordPieceTokenizer} (a driver-local vocabulary file may not exist on executors).
 */
public record TokenizerSpec(List<String> tokens, BertNormalizer normalizer, String unkToken,
    String continuingSubwordPrefix, int maxInputCharsPerWord, List<String> specialTokens) implements Serializable {

  public TokenizerSpec {
    tokens = List.copyOf(tokens);
    specialTokens = List.copyOf(specialTokens);
  }

  /** A BERT vocabulary with BERT's defaults: {@code [UNK]}, {@code ##}, 100, the special tokens it holds. */
  public static TokenizerSpec bert(List<String> tokens, BertNormalizer normalizer) {
    return new TokenizerSpec(tokens, normalizer, "[UNK]", "##", WordPiece.DEFAULT_MAX_INPUT_CHARS_PER_WORD,
        TokenizerLoader.BERT_SPECIAL_TOKENS.stream().filter(tokens::contains).toList());
  }

  public BertWordPieceTokenizer build() {
    return TokenizerLoader.assemble(this, "the vocabulary");
  }
}
