package org.mosaicbert.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Hugging Face {@code tokenizers} (Rust, through DJL's JNI build) with special tokens on and truncation and
 * padding off, unless a maximum length is given: the oracle our tokenizer must match id for id.
 */
final class RustOracle implements AutoCloseable {
  private final HuggingFaceTokenizer tokenizer;

  RustOracle(Path tokenizerJson) {
    this(tokenizerJson, 0);
  }

  /** @param maxLength 0 for no truncation, else longest-first truncation to this many ids */
  RustOracle(Path tokenizerJson, int maxLength) {
    try {
      HuggingFaceTokenizer.Builder builder = HuggingFaceTokenizer.builder()
          .optTokenizerPath(tokenizerJson)
          .optAddSpecialTokens(true)
          .optPadding(false);
      if (maxLength > 0) {
        builder.optTruncation(true).optMaxLength(maxLength);
      } else {
        builder.optTruncation(false);
      }
      tokenizer = builder.build();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  int[] encode(String text) {
    return toInts(tokenizer.encode(text).getIds());
  }

  int[] encodeWithoutSpecialTokens(String text) {
    return toInts(tokenizer.encode(text, false, false).getIds());
  }

  int[][] encodeBatchWithoutSpecialTokens(List<String> texts) {
    return Arrays.stream(tokenizer.batchEncode(texts, false, false)).map(e -> toInts(e.getIds())).toArray(int[][]::new);
  }

  List<String> tokens(String text) {
    return Arrays.asList(tokenizer.encode(text, false, false).getTokens());
  }

  Encoding encodePair(String a, String b) {
    ai.djl.huggingface.tokenizers.Encoding e = tokenizer.encode(a, b);
    return new Encoding(toInts(e.getIds()), toInts(e.getTypeIds()));
  }

  private static int[] toInts(long[] values) {
    return Arrays.stream(values).mapToInt(Math::toIntExact).toArray();
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
