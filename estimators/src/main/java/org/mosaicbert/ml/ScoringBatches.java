package org.mosaicbert.ml;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import org.bytedeco.javacpp.Pointer;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.cuda.CudaBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.train.Sample;

/**
 * Batches for scoring, bounded by memory: at most {@code batchSize} sequences, and at most the tokens whose inference
 * activations fit in this task's {@link Memory}: its share of off-heap memory on the CPU, of its GPU's on a GPU.
 */
final class ScoringBatches {
  private final int batchSize;
  private final int maxBatchTokens;
  private final Memory memory;

  /**
   * The bytes a scoring task gives its activations, which memory they are in and how to get more, for the errors.
   */
  record Memory(long budgetBytes, String what, String howToGetMore) {
    /**
     * Off-heap memory: half of what JavaCPP's limit (-Xmx unless org.bytedeco.javacpp.maxBytes says otherwise)
     * leaves once the model's parameters ({@code parameterBytes}) are in, so that the tasks scoring beside it in the
     * executor find room too.
     */
    static Memory offHeap(long parameterBytes) {
      long limit = Pointer.maxBytes() > 0 ? Pointer.maxBytes() : Runtime.getRuntime().maxMemory();
      return new Memory(Math.max(0, (limit - Pointer.totalBytes() - parameterBytes) / 2), "off-heap memory",
          "give the executor more memory (spark.executor.memory, or MOSAICBERT_JAVA_OPTS=-Xmx... for bin/mosaicbert)");
    }

    /** The GPU memory {@code backend} has left once a model of {@code parameters} floats is in. */
    static Memory onGpu(CudaBackend backend, long parameters) {
      return new Memory(Math.max(0, backend.unusedArenaBytes() - CudaBackend.PARAMETER_BYTES * parameters),
          "GPU memory", "give each task a larger share of its GPU (spark.task.resource.gpu.amount; in local mode "
          + "fewer cores) or raise " + CudaBackend.MEMORY_FRACTION_PROPERTY);
    }
  }

  private ScoringBatches(int batchSize, int maxBatchTokens, Memory memory) {
    this.batchSize = batchSize;
    this.maxBatchTokens = maxBatchTokens;
    this.memory = memory;
  }

  /**
   * The batches whose activations {@code backend} can hold in {@code memory}; an {@link IllegalStateException} when
   * not even one token's fit.
   */
  static ScoringBatches within(ModelConfig config, Backend backend, int batchSize, Memory memory) {
    int maxBatchTokens = MosaicBert.tokensWithin(config, backend, MosaicBert.Mode.INFERENCE, batchSize, 0,
        memory.budgetBytes());
    if (maxBatchTokens < 1) {
      throw new IllegalStateException(String.format(Locale.ROOT, "scoring has no %s left for activations (%.0f "
          + "MiB); %s", memory.what(), memory.budgetBytes() / 1048576.0, memory.howToGetMore()));
    }
    return new ScoringBatches(batchSize, maxBatchTokens, memory);
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
        + "activations of one sequence that long do not fit in the %.0f MiB of %s this scoring task can give them (at "
        + "most %d tokens). Lower maxSeqLen to cut such texts, or set windowStride to score them in windows, or %s",
        sequence, length, cut, memory.budgetBytes() / 1048576.0, memory.what(), maxBatchTokens,
        memory.howToGetMore()));
  }
}
