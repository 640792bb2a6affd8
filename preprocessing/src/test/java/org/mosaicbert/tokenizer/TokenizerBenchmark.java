package org.mosaicbert.tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.function.ToIntFunction;
import org.mosaicbert.testing.SharedTestData;
import org.mosaicbert.testing.TestCorpora;

/**
 * Single-thread tokens/s of our tokenizer and of Hugging Face {@code tokenizers} (Rust, called through DJL's JNI
 * binding, as a JVM program would call it) on the same C4 documents, and their ratio. A program that prints figures,
 * not a test: {@code mvn -q -pl preprocessing test-compile exec:java -Dexec.classpathScope=test
 * -Dexec.mainClass=org.mosaicbert.tokenizer.TokenizerBenchmark} (README, "Benchmarks").
 */
public final class TokenizerBenchmark {
  private static final int WARMUP_ROUNDS = 3;
  private static final int ROUNDS = 7;

  public static void main(String[] args) {
    System.setProperty("mosaicbert.shared.dir", System.getProperty("mosaicbert.shared.dir", "../shared"));
    List<String> docs = TestCorpora.c4Documents();
    long chars = docs.stream().mapToLong(String::length).sum();
    BertWordPieceTokenizer ours = TokenizerLoader.fromTokenizerJson(SharedTestData.tokenizerJson());
    System.out.printf("corpus: %d C4 documents, %.2f M characters; single thread; median of %d rounds after %d "
        + "warm-up rounds%n", docs.size(), chars / 1e6, ROUNDS, WARMUP_ROUNDS);
    try (RustOracle rust = new RustOracle(SharedTestData.tokenizerJson())) {
      double oursRate = measure("ours (Java), whole documents", docs, d -> ours.encode(d).length);
      double rustRate = measure("Hugging Face tokenizers (Rust via DJL JNI), whole documents", docs,
          d -> rust.encode(d).length);
      double ours128 = measure("ours (Java), truncated to 128 (the tokenize job)", docs, d -> ours.encode(d, 128).length);
      System.out.printf("ratio ours/Rust, whole documents: %.2fx%n", oursRate / rustRate);
      System.out.printf("ratio ours truncated to 128 / Rust whole documents (documents per second): %.2fx%n",
          ours128 / rustRate);
    }
  }

  /** @return documents per second (median round) */
  private static double measure(String name, List<String> docs, ToIntFunction<String> encode) {
    long[] nanos = new long[ROUNDS];
    long tokens = 0;
    for (int round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      long start = System.nanoTime();
      long roundTokens = 0;
      for (String doc : docs) {
        roundTokens += encode.applyAsInt(doc);
      }
      long elapsed = System.nanoTime() - start;
      if (round >= WARMUP_ROUNDS) {
        nanos[round - WARMUP_ROUNDS] = elapsed;
      }
      tokens = roundTokens;
    }
    Arrays.sort(nanos);
    double seconds = nanos[ROUNDS / 2] / 1e9;
    System.out.printf("%-62s %10.0f tokens/s  %8.0f docs/s  (%d tokens per round, %.3f s)%n", name,
        tokens / seconds, docs.size() / seconds, tokens, seconds);
    return docs.size() / seconds;
  }
}
