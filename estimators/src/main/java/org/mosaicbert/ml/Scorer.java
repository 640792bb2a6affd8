package org.mosaicbert.ml;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import org.apache.spark.TaskContext;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.bytedeco.javacpp.Pointer;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.Encoding;
import org.mosaicbert.tokenizer.TokenizerSpec;
import org.mosaicbert.train.Batches;
import org.mosaicbert.train.Sample;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scores one partition for {@link MosaicBertModel#transform}: each input row comes out once, in the input order,
 * with the model's columns appended (classifier: rawPrediction, probability, prediction[, predictedLabel];
 * regression: prediction; then the embedding when asked for; an MLM model: the embedding).
 *
 * <p>Rows are read in windows of {@value #WINDOW_BATCHES} batches and sorted by length inside a window, so a batch
 * holds sequences of similar length: the unpadded engine does no work for padding anyway, but similar lengths keep
 * the attention's per-sequence work even. A batch holds at most {@code batchSize} sequences and at most the tokens
 * whose activations fit in this task's share of off-heap memory ({@link #activationBudget}); the engine sizes its
 * activations for the batches it is given. A row with no text (null or empty) or no ids gets nulls and is counted in
 * the executor's log; the job does not fail for it. A sequence that cannot fit alone fails the task, naming the row.
 *
 * <p>With {@code windowStride} > 0, a single text or token-id row longer than {@code maxSeqLen} is scored in
 * overlapping windows ({@link Windows}) and pooled: the mean of the windows' logits (the probability and prediction
 * follow from it) and the mean of their embeddings. Pairs are always cut longest-first.
 */
final class Scorer implements Serializable {
  private static final Logger LOG = LoggerFactory.getLogger(Scorer.class);
  static final int WINDOW_BATCHES = 16;

  /** What the embedding column holds: none, the mean of the last hidden states, or the classifier's pooled output. */
  enum Embedding { NONE, MEAN, POOLED }

  private final int idsIndex;
  private final int textIndex;
  private final int pairIndex;
  private final int maxSeqLen;
  private final int windowStride;
  private final int batchSize;
  private final int threads;
  private final Embedding embedding;
  private final int addedColumns;

  /**
   * @param idsIndex the token ids column, used when {@code textIndex} is negative
   * @param textIndex the text column, or -1
   * @param pairIndex the second text column of a pair, or -1
   * @param windowStride 0: texts are cut at maxSeqLen; else single texts and ids longer than it are scored in windows
   *     of maxSeqLen tokens starting this many tokens apart
   * @param addedColumns the columns a row gains (the model's output schema decides them)
   */
  Scorer(int idsIndex, int textIndex, int pairIndex, int maxSeqLen, int windowStride, int batchSize, int threads,
      Embedding embedding, int addedColumns) {
    this.idsIndex = idsIndex;
    this.textIndex = textIndex;
    this.pairIndex = pairIndex;
    this.maxSeqLen = maxSeqLen;
    this.windowStride = windowStride;
    this.batchSize = batchSize;
    this.threads = threads;
    this.embedding = embedding;
    this.addedColumns = addedColumns;
  }

  Iterator<Row> score(Iterator<Row> rows, ModelFolder model) {
    return new Iterator<>() {
      private final Partition partition = new Partition(model);
      private Iterator<Row> window = java.util.Collections.emptyIterator();

      @Override
      public boolean hasNext() {
        while (!window.hasNext() && rows.hasNext()) {
          window = partition.scoreWindow(rows);
        }
        if (!window.hasNext()) {
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
        return window.next();
      }
    };
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

  /** What one sequence (a row, or a window of one) scored: its logits and embedding, each null when not asked. */
  private record Piece(double[] logits, double[] embedding) {}

  /** The state of one partition's scoring: the tokenizer, the engine, the rows read and the counts. */
  private final class Partition {
    private final ModelFolder model;
    private final BertWordPieceTokenizer tokenizer;
    private final boolean classifier;
    private final int partitionId;
    private MosaicBert engine;
    private int maxBatchTokens;
    private long rowsRead;
    private long scored;
    private long skipped;
    private boolean closed;

    Partition(ModelFolder model) {
      this.model = model;
      this.tokenizer = textIndex < 0 ? null : TokenizerSpec.bert(model.vocab(), model.normalizer()).build();
      this.classifier = model.heads() == ParameterLayout.Heads.CLASSIFIER;
      TaskContext task = TaskContext.get();
      this.partitionId = task == null ? 0 : task.partitionId();
      if (task != null) {
        // The engine's memory is off-heap: free it even when a consumer stops early (a limit, a failed task).
        task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) context -> close());
      }
    }

    /** Reads, scores and returns the next window of rows, in their input order. */
    Iterator<Row> scoreWindow(Iterator<Row> rows) {
      List<Row> window = new ArrayList<>();
      List<Sample> pieces = new ArrayList<>();
      List<Integer> pieceRows = new ArrayList<>();
      while (rows.hasNext() && window.size() < batchSize * WINDOW_BATCHES) {
        Row row = rows.next();
        List<Sample> ofRow = piecesOf(row, pieces.size());
        for (int p = 0; p < ofRow.size(); p++) {
          pieceRows.add(window.size());
        }
        pieces.addAll(ofRow);
        skipped += ofRow.isEmpty() ? 1 : 0;
        scored += ofRow.isEmpty() ? 0 : 1;
        window.add(row);
      }
      long firstRow = rowsRead;
      rowsRead += window.size();
      Piece[] results = new Piece[pieces.size()];
      List<Sample> sorted = new ArrayList<>(pieces);
      sorted.sort((a, b) -> Integer.compare(b.inputIds().length, a.inputIds().length));
      for (List<Sample> batch : batches(sorted, pieceRows, firstRow)) {
        scoreBatch(batch, results);
      }
      Object[][] outputs = new Object[window.size()][];
      for (int from = 0; from < results.length; ) {
        int row = pieceRows.get(from);
        int to = from;
        while (to < results.length && pieceRows.get(to) == row) {
          to++;
        }
        outputs[row] = columns(Arrays.copyOfRange(results, from, to));
        from = to;
      }
      List<Row> out = new ArrayList<>(window.size());
      for (int i = 0; i < window.size(); i++) {
        Row row = window.get(i);
        Object[] values = Arrays.copyOf(rowValues(row), row.size() + addedColumns);
        if (outputs[i] != null) {
          System.arraycopy(outputs[i], 0, values, row.size(), addedColumns);
        }
        out.add(RowFactory.create(values));
      }
      return out.iterator();
    }

    /**
     * The row's sequences, with ids from {@code firstId} on: one (its text cut at maxSeqLen, or its ids), its
     * windows, or none when it has nothing to score.
     */
    private List<Sample> piecesOf(Row row, int firstId) {
      if (tokenizer != null) {
        if (row.isNullAt(textIndex) || row.getString(textIndex).isEmpty()) {
          return List.of();
        }
        if (pairIndex >= 0) {
          String pair = row.isNullAt(pairIndex) ? "" : row.getString(pairIndex);
          Encoding e = tokenizer.encode(row.getString(textIndex), pair, maxSeqLen);
          return List.of(new Sample(firstId, e.ids(), e.typeIds(), 0f));
        }
        int[] ids = tokenizer.encode(row.getString(textIndex), windowStride > 0 ? Integer.MAX_VALUE : maxSeqLen);
        return samples(windowStride > 0 ? Windows.of(ids, maxSeqLen, windowStride) : List.of(ids), firstId);
      }
      if (row.isNullAt(idsIndex) || row.getList(idsIndex).isEmpty()) {
        return List.of();
      }
      List<Integer> list = row.getList(idsIndex);
      int[] ids = new int[list.size()];
      for (int t = 0; t < ids.length; t++) {
        Integer id = list.get(t);
        if (id == null || id < 0 || id >= model.config().vocabSize()) {
          throw new IllegalArgumentException("input_ids row " + row + ": token id " + id + " at position " + t
              + " is outside the model's vocabulary of " + model.config().vocabSize() + " (inputIdsCol; were the "
              + "ids made with this model's vocab.txt?)");
        }
        ids[t] = id;
      }
      return samples(windowStride > 0 ? Windows.of(ids, maxSeqLen, windowStride) : List.of(ids), firstId);
    }

    private List<Sample> samples(List<int[]> sequences, int firstId) {
      List<Sample> out = new ArrayList<>(sequences.size());
      for (int[] ids : sequences) {
        out.add(new Sample(firstId + out.size(), ids, null, 0f));
      }
      return out;
    }

    /**
     * Pieces sorted longest first, cut into batches of at most batchSize sequences and the tokens that fit; the
     * engine is built with the first one.
     */
    private List<List<Sample>> batches(List<Sample> sorted, List<Integer> pieceRows, long firstRow) {
      List<List<Sample>> out = new ArrayList<>();
      if (sorted.isEmpty()) {
        return out;
      }
      ensureEngine();
      List<Sample> batch = new ArrayList<>();
      int tokens = 0;
      for (Sample s : sorted) {
        int length = s.inputIds().length;
        if (length > maxBatchTokens) {
          throw tooLong(firstRow + pieceRows.get((int) s.sampleId()), length);
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

    private IllegalArgumentException tooLong(long row, int length) {
      long budget = activationBudget(4L * model.parameters().length);
      return new IllegalArgumentException(String.format(Locale.ROOT, "row %d of partition %d is %d tokens long as "
          + "scored (%s); the activations of one sequence that long do not fit in the %.0f MiB of off-heap memory this "
          + "scoring task can give them (at most %d tokens). Lower maxSeqLen (predict --max-seq-len) to cut such "
          + "texts, or set windowStride (predict --window-stride) to score them in windows, or give the executor "
          + "more memory (spark.executor.memory, or MOSAICBERT_JAVA_OPTS=-Xmx... for bin/mosaicbert)", row,
          partitionId, length, tokenizer != null ? "maxSeqLen " + maxSeqLen : "token ids are not cut",
          budget / 1048576.0, maxBatchTokens));
    }

    /**
     * The engine for this partition, built once: for inference, its parameters uploaded, its activations capped at
     * the tokens this task's memory holds (it sizes them for the batches it is given, up to that).
     */
    private void ensureEngine() {
      if (engine != null) {
        return;
      }
      ModelConfig config = model.config();
      CpuBackend backend = new CpuBackend(threads);
      long budget = activationBudget(4L * model.parameters().length);
      maxBatchTokens = MosaicBert.tokensWithin(config, backend, MosaicBert.Mode.INFERENCE, batchSize, 0, budget);
      if (maxBatchTokens < 1) {
        backend.close();
        throw new IllegalStateException(String.format(Locale.ROOT, "scoring has no off-heap memory left for "
            + "activations (%.0f MiB); give the executor more memory (spark.executor.memory, or "
            + "MOSAICBERT_JAVA_OPTS=-Xmx... for bin/mosaicbert)", budget / 1048576.0));
      }
      engine = new MosaicBert(config, model.heads(), backend, new MosaicBert.Capacity(maxBatchTokens,
          Math.min(batchSize, maxBatchTokens), maxBatchTokens, 0), MosaicBert.Mode.INFERENCE);
      engine.setAllParameters(model.parameters());
    }

    private void scoreBatch(List<Sample> batch, Piece[] results) {
      var unpadded = Batches.labelled(batch);
      engine.forward(unpadded, classifier ? MosaicBert.Objective.CLASSIFICATION : MosaicBert.Objective.ENCODE, null);
      int labels = model.config().numLabels();
      int hidden = model.config().hiddenSize();
      float[] logits = classifier ? engine.classifierLogits() : null;
      float[] states = embedding == Embedding.MEAN ? engine.lastHiddenState() : null;
      float[] pooled = embedding == Embedding.POOLED ? engine.pooledOutput() : null;
      int[] cu = unpadded.cuSeqlens();
      for (int s = 0; s < batch.size(); s++) {
        double[] pieceLogits = null;
        if (logits != null) {
          pieceLogits = new double[labels];
          for (int k = 0; k < labels; k++) {
            pieceLogits[k] = logits[s * labels + k];
          }
        }
        double[] vector = null;
        if (embedding == Embedding.MEAN) {
          vector = new double[hidden];
          for (int t = cu[s]; t < cu[s + 1]; t++) {
            for (int c = 0; c < hidden; c++) {
              vector[c] += states[t * hidden + c];
            }
          }
          for (int c = 0; c < hidden; c++) {
            vector[c] /= cu[s + 1] - cu[s];
          }
        } else if (embedding == Embedding.POOLED) {
          vector = new double[hidden];
          for (int c = 0; c < hidden; c++) {
            vector[c] = pooled[s * hidden + c];
          }
        }
        results[(int) batch.get(s).sampleId()] = new Piece(pieceLogits, vector);
      }
    }

    /** A row's added columns from its pieces: their logits and embeddings averaged (one piece: its own). */
    private Object[] columns(Piece[] pieces) {
      ModelConfig config = model.config();
      List<Object> values = new ArrayList<>(5);
      if (classifier) {
        double[] raw = mean(pieces, Piece::logits, config.numLabels());
        if (config.isRegression()) {
          values.add(raw[0]);
        } else {
          int argmax = argmax(raw);
          values.add(Vectors.dense(raw));
          values.add(Vectors.dense(softmax(raw, raw[argmax])));
          values.add((double) argmax);
          if (config.labels() != null) {
            values.add(config.labels().get(argmax));
          }
        }
      }
      if (embedding != Embedding.NONE) {
        values.add(Vectors.dense(mean(pieces, Piece::embedding, config.hiddenSize())));
      }
      return values.toArray();
    }

    /** The mean over the pieces of one part of each (a row scored whole is one piece: its own values). */
    private static double[] mean(Piece[] pieces, java.util.function.Function<Piece, double[]> part, int n) {
      double[] mean = new double[n];
      for (Piece p : pieces) {
        double[] values = part.apply(p);
        for (int i = 0; i < n; i++) {
          mean[i] += values[i];
        }
      }
      for (int i = 0; i < n; i++) {
        mean[i] /= pieces.length;
      }
      return mean;
    }

    private void releaseEngine() {
      if (engine != null) {
        engine.close();
        engine = null;
      }
    }

    /** Frees the engine and logs the partition's count of rows without input (once). */
    void close() {
      releaseEngine();
      if (!closed) {
        closed = true;
        if (skipped > 0) {
          LOG.warn("scored {} rows; {} rows had no {} (null or empty) and got null outputs", scored, skipped,
              tokenizer != null ? "text" : "token ids");
        }
      }
    }
  }

  private static Object[] rowValues(Row row) {
    Object[] values = new Object[row.size()];
    for (int c = 0; c < values.length; c++) {
      values[c] = row.get(c);
    }
    return values;
  }

  private static int argmax(double[] values) {
    int best = 0;
    for (int k = 1; k < values.length; k++) {
      if (values[k] > values[best]) {
        best = k;
      }
    }
    return best;
  }

  /** Softmax shifted by the largest logit, so no exponent overflows. */
  private static double[] softmax(double[] logits, double max) {
    double[] p = new double[logits.length];
    double sum = 0;
    for (int k = 0; k < p.length; k++) {
      p[k] = Math.exp(logits[k] - max);
      sum += p[k];
    }
    for (int k = 0; k < p.length; k++) {
      p[k] /= sum;
    }
    return p;
  }
}
