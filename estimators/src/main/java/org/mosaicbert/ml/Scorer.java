package org.mosaicbert.ml;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Row;
import org.apache.spark.util.LongAccumulator;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.backend.cuda.CudaBackend;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.train.Sample;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scores one partition for {@link MosaicBertModel#transform}: each input row comes out once, in the input order,
 * with the model's columns appended ({@link ScoredColumns}). Scoring is these parts put together:
 *
 * <ol>
 *   <li>{@link RowSequences}: each row becomes its sequences (tokenized and cut, or its {@link Windows}).
 *   <li>Rows are read in chunks of {@value #CHUNK_BATCHES} batches, and a chunk's sequences sorted by length, so a
 *       batch holds sequences of similar length: the unpadded engine does no work for padding anyway, but similar
 *       lengths keep the attention's per-sequence work even.
 *   <li>{@link ScoringBatches}: the sorted sequences cut into batches that fit this task's memory.
 *   <li>{@link ScoringEngine}: each batch run through the model.
 *   <li>{@link ScoredColumns}: each row's sequences' scores pooled into its added columns.
 * </ol>
 *
 * A row with no text (null, empty or only whitespace: no token) or no ids gets nulls and is counted in the executor's
 * log; the job does not fail for it. A sequence that cannot fit alone fails the task, naming the row. Each chunk's
 * rows are added to an accumulator, which {@link ScoringProgress} follows on the driver.
 */
final class Scorer implements Serializable {
  private static final Logger LOG = LoggerFactory.getLogger(Scorer.class);
  /** Batches of rows read, and sorted by length, together. */
  static final int CHUNK_BATCHES = 16;

  /** What the embedding column holds: none, the mean of the last hidden states, or the classifier's pooled output. */
  enum Embedding { NONE, MEAN, POOLED }

  private final int idsIndex;
  private final int textIndex;
  private final int pairIndex;
  private final int maxSeqLen;
  private final int windowStride;
  private final int batchSize;
  private final int threads;
  private final Precision precision;
  /** CPU or GPU, resolved on the driver. */
  private final DevicePlacement device;
  /** On a GPU, the share of its memory this task may take ({@link DevicePlacement#scoringShare}). */
  private final double gpuShare;
  private final Embedding embedding;
  private final int addedColumns;
  private final LongAccumulator rowsScored;

  /**
   * @param idsIndex the token ids column, used when {@code textIndex} is negative
   * @param textIndex the text column, or -1
   * @param pairIndex the second text column of a pair, or -1
   * @param windowStride 0: texts are cut at maxSeqLen; else single texts and ids longer than it are scored in windows
   *     of maxSeqLen tokens starting this many tokens apart
   * @param device CPU or GPU (resolved); on a GPU, the task's share of its memory is {@code gpuShare}
   * @param addedColumns the columns a row gains (the model's output schema decides them)
   * @param rowsScored counts the rows scored, chunk by chunk ({@link ScoringProgress#counter})
   */
  Scorer(int idsIndex, int textIndex, int pairIndex, int maxSeqLen, int windowStride, int batchSize, int threads,
      Precision precision, DevicePlacement device, double gpuShare, Embedding embedding, int addedColumns,
      LongAccumulator rowsScored) {
    this.idsIndex = idsIndex;
    this.textIndex = textIndex;
    this.pairIndex = pairIndex;
    this.maxSeqLen = maxSeqLen;
    this.windowStride = windowStride;
    this.batchSize = batchSize;
    this.threads = threads;
    this.precision = precision;
    this.device = device;
    this.gpuShare = gpuShare;
    this.embedding = embedding;
    this.addedColumns = addedColumns;
    this.rowsScored = rowsScored;
  }

  Iterator<Row> score(Iterator<Row> rows, ModelFolder model) {
    return new Iterator<>() {
      private final Partition partition = new Partition(model);
      private Iterator<Row> chunk = Collections.emptyIterator();

      @Override
      public boolean hasNext() {
        while (!chunk.hasNext() && rows.hasNext()) {
          chunk = partition.scoreChunk(rows);
        }
        if (!chunk.hasNext()) {
          partition.close();
          return false;
        }
        return true;
      }

      @Override
      public Row next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        return chunk.next();
      }
    };
  }

  /** The state of one partition's scoring: its parts, the rows read and the counts. */
  private final class Partition {
    private final ModelFolder model;
    private final RowSequences sequences;
    private final ScoredColumns columns;
    private final int partitionId;
    private ScoringBatches batches;
    private ScoringEngine engine;
    private long rowsRead;
    private long scored;
    private long skipped;
    private boolean closed;

    Partition(ModelFolder model) {
      this.model = model;
      this.sequences = new RowSequences(model, idsIndex, textIndex, pairIndex, maxSeqLen, windowStride);
      this.columns = new ScoredColumns(model.config(), model.heads() == ParameterLayout.Heads.CLASSIFIER, embedding,
          addedColumns);
      TaskContext task = TaskContext.get();
      this.partitionId = task == null ? 0 : task.partitionId();
      if (task != null) {
        // The engine's memory is off-heap: free it even when a consumer stops early (a limit, a failed task).
        task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) context -> close());
      }
    }

    /** Reads, scores and returns the next chunk of rows, in their input order. */
    Iterator<Row> scoreChunk(Iterator<Row> rows) {
      List<Row> chunk = new ArrayList<>();
      List<Sample> all = new ArrayList<>();
      List<Integer> rowOf = new ArrayList<>();
      while (rows.hasNext() && chunk.size() < batchSize * CHUNK_BATCHES) {
        Row row = rows.next();
        List<Sample> ofRow = sequences.of(row, all.size());
        for (int s = 0; s < ofRow.size(); s++) {
          rowOf.add(chunk.size());
        }
        all.addAll(ofRow);
        skipped += ofRow.isEmpty() ? 1 : 0;
        scored += ofRow.isEmpty() ? 0 : 1;
        chunk.add(row);
      }
      long firstRow = rowsRead;
      rowsRead += chunk.size();
      SequenceScore[] scores = new SequenceScore[all.size()];
      List<Sample> longestFirst = new ArrayList<>(all);
      longestFirst.sort((a, b) -> Integer.compare(b.inputIds().length, a.inputIds().length));
      if (!longestFirst.isEmpty()) {
        start();
        for (List<Sample> batch : batches.split(longestFirst, s -> batches.tooLong("row "
            + (firstRow + rowOf.get((int) s.sampleId())) + " of partition " + partitionId, s.inputIds().length,
            sequences.readsText() ? "maxSeqLen " + maxSeqLen : "token ids are not cut"))) {
          engine.score(batch, scores);
        }
      }
      SequenceScore[][] ofRows = new SequenceScore[chunk.size()][];
      for (int from = 0; from < scores.length; ) {
        int row = rowOf.get(from);
        int to = from;
        while (to < scores.length && rowOf.get(to) == row) {
          to++;
        }
        ofRows[row] = Arrays.copyOfRange(scores, from, to);
        from = to;
      }
      List<Row> out = new ArrayList<>(chunk.size());
      for (int i = 0; i < chunk.size(); i++) {
        out.add(columns.append(chunk.get(i), ofRows[i]));
      }
      rowsScored.add(chunk.size());
      return out.iterator();
    }

    /**
     * Builds the engine once, with the first chunk that has something to score: its batches sized to the tokens
     * this task's memory holds.
     */
    private void start() {
      if (engine != null) {
        return;
      }
      Backend backend = device == DevicePlacement.GPU ? openGpu() : new CpuBackend(threads);
      try {
        batches = ScoringBatches.within(model.config(), backend, batchSize, backend instanceof CudaBackend cuda
            ? ScoringBatches.Memory.onGpu(cuda, model.parameters().length)
            : ScoringBatches.Memory.offHeap(ScoringEngine.weightBytes(model, precision)));
      } catch (RuntimeException e) {
        backend.close();
        throw e;
      }
      engine = new ScoringEngine(model, backend, batches, precision, embedding);
    }

    /**
     * The task's GPU: the address of its gpu resource, as a fit's worker takes it, else (local mode) device 0, with
     * {@link #gpuShare} of its memory.
     */
    private CudaBackend openGpu() {
      return TaskGpu.of(TaskContext.get(), 0, "scoring task of partition " + partitionId).open(gpuShare);
    }

    /** Frees the engine and logs the partition's count of rows without input (once). */
    void close() {
      if (engine != null) {
        engine.close();
        engine = null;
      }
      if (!closed) {
        closed = true;
        if (skipped > 0) {
          LOG.warn("scored {} rows; {} rows had no {} and got null outputs", scored, skipped,
              sequences.readsText() ? "text (null, empty or no token)" : "token ids (null or empty)");
        }
      }
    }
  }
}
