package org.mosaicbert.ml;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import org.bytedeco.javacpp.Pointer;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.train.Sample;

/**
 * Batches for scoring, bounded by memory: at most {@code batchSize} sequences, and at most the tokens whose inference
 * activations fit in this task's share of off-heap memory ({@link #activationBudget}).
 */
final class ScoringBatches {
  private final int batchSize;
  private final int maxBatchTokens;
  private final long budgetBytes;

  private ScoringBatches(int batchSize, int maxBatchTokens, long budgetBytes) {
    this.batchSize = batchSize;
    this.maxBatchTokens = maxBatchTokens;
    this.budgetBytes = budgetBytes;
  }

  /**
   * The batches whose activations {@code backend} can hold beside a model of {@code parameterBytes}; an
   * {@link IllegalStateException} when not even one token's fit.
   */
  static ScoringBatches within(ModelConfig config, Backend backend, int batchSize, long parameterBytes) {
    long budget = activationBudget(parameterBytes);
    int maxBatchTokens = MosaicBert.tokensWithin(config, backend, MosaicBert.Mode.INFERENCE, batchSize, 0, budget);
    if (maxBatchTokens < 1) {
      throw new IllegalStateException(String.format(Locale.ROOT, "scoring has no off-heap memory left for "
          + "activations (%.0f MiB); give the executor more memory (spark.executor.memory, or "
          + "MOSAICBERT_JAVA_OPTS=-Xmx... for bin/mosaicbert)", budget / 1048576.0));
    }
    return new ScoringBatches(batchSize, maxBatchTokens, budget);
  }

  /**
   * Bytes of off-heap memory a scoring task gives its activations: half of what JavaCPP's limit (-Xmx unless
   * org.bytedeco.javacpp.maxBytes says otherwise) leaves once the model's parameters are in, so that the tasks
   * scoring beside it in the executor find room too.
   */
  static long activationBudget(long parameterBytes) {
    long limit = Pointer.maxBytes() > 0 ? Pointer.maxBytes() : Runtime.getRuntime().maxMemory();
    return Math.max(0, (limit - Pointer.totalBytes() - parameterBytes) / 2);
  }

  int batchSize() {
    return batchSize;
  }

  /** The most tokens one batch may hold, and so the longest sequence that can be scored. */
  int maxBatchTokens() {
    return maxBatchTokens;
  }

  /**
   * Sequences sorted longest first, cut in that order into batches; a sequence longer than {@link #maxBatchTokens}
   * fails with {@code tooLong}'s error for it.
   */
  List<List<Sample>> split(List<Sample> longestFirst, Function<Sample, RuntimeException> tooLong) {
    List<List<Sample>> out = new ArrayList<>();
    if (longestFirst.isEmpty()) {
      return out;
    }
    List<Sample> batch = new ArrayList<>();
    int tokens = 0;
    for (Sample s : longestFirst) {
      int length = s.inputIds().length;
      if (length > maxBatchTokens) {
        throw tooLong.apply(s);
      }
      if (batch.size() == batchSize || tokens + length > maxBatchTokens) {
        out.add(batch);
        batch = new ArrayList<>();
        tokens = 0;
      }
      batch.add(s);
      tokens += length;
    }
    out.add(batch);
    return out;
  }

  /**
   * The error for a sequence that cannot fit alone: {@code sequence} names it (its row and partition), {@code cut}
   * says how its input was cut.
   */
  IllegalArgumentException tooLong(String sequence, int length, String cut) {
    return new IllegalArgumentException(String.format(Locale.ROOT, "%s is %d tokens long as scored (%s); the "
        + "activations of one sequence that long do not fit in the %.0f MiB of off-heap memory this scoring task can "
        + "give them (at most %d tokens). Lower maxSeqLen to cut such texts, or set "
        + "windowStride to score them in windows, or give the executor more memory "
        + "(spark.executor.memory, or MOSAICBERT_JAVA_OPTS=-Xmx... for bin/mosaicbert)", sequence, length, cut,
        budgetBytes / 1048576.0, maxBatchTokens));
  }
}
