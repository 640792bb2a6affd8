package org.mosaicbert.ml;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.TaskContext;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
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
 * the attention's per-sequence work even and the capacity small. A row with no text (null or empty) or no ids gets
 * nulls and is counted in the executor's log; the job does not fail for it.
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
  private final int batchSize;
  private final int threads;
  private final Embedding embedding;
  private final int addedColumns;

  /**
   * @param idsIndex the token ids column, used when {@code textIndex} is negative
   * @param textIndex the text column, or -1
   * @param pairIndex the second text column of a pair, or -1
   * @param addedColumns the columns a row gains (the model's output schema decides them)
   */
  Scorer(int idsIndex, int textIndex, int pairIndex, int maxSeqLen, int batchSize, int threads, Embedding embedding,
      int addedColumns) {
    this.idsIndex = idsIndex;
    this.textIndex = textIndex;
    this.pairIndex = pairIndex;
    this.maxSeqLen = maxSeqLen;
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

  /** The state of one partition's scoring: the tokenizer, the engine (sized to the longest input seen), counts. */
  private final class Partition {
    private final ModelFolder model;
    private final BertWordPieceTokenizer tokenizer;
    private final boolean classifier;
    private MosaicBert engine;
    private long scored;
    private long skipped;
    private boolean closed;

    Partition(ModelFolder model) {
      this.model = model;
      this.tokenizer = textIndex < 0 ? null : TokenizerSpec.bert(model.vocab(), model.normalizer()).build();
      this.classifier = model.heads() == ParameterLayout.Heads.CLASSIFIER;
      TaskContext task = TaskContext.get();
      if (task != null) {
        // The engine's memory is off-heap: free it even when a consumer stops early (a limit, a failed task).
        task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) context -> close());
      }
    }

    /** Reads, scores and returns the next window of rows, in their input order. */
    Iterator<Row> scoreWindow(Iterator<Row> rows) {
      List<Row> window = new ArrayList<>();
      List<Sample> samples = new ArrayList<>();
      while (rows.hasNext() && window.size() < batchSize * WINDOW_BATCHES) {
        Row row = rows.next();
        Sample sample = sampleOf(row, window.size());
        window.add(row);
        if (sample != null) {
          samples.add(sample);
        }
      }
      skipped += window.size() - samples.size();
      scored += samples.size();
      samples.sort((a, b) -> Integer.compare(b.inputIds().length, a.inputIds().length));
      Object[][] outputs = new Object[window.size()][];
      for (int from = 0; from < samples.size(); from += batchSize) {
        List<Sample> batch = samples.subList(from, Math.min(samples.size(), from + batchSize));
        scoreBatch(batch, outputs);
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

    /** The row as a sample whose id is its place in the window, or null when it has nothing to score. */
    private Sample sampleOf(Row row, int place) {
      if (tokenizer != null) {
        if (row.isNullAt(textIndex) || row.getString(textIndex).isEmpty()) {
          return null;
        }
        String pair = pairIndex < 0 ? null : row.isNullAt(pairIndex) ? "" : row.getString(pairIndex);
        Encoding e = tokenizer.encode(row.getString(textIndex), pair, maxSeqLen);
        return new Sample(place, e.ids(), e.typeIds(), 0f);
      }
      if (row.isNullAt(idsIndex) || row.getList(idsIndex).isEmpty()) {
        return null;
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
      return new Sample(place, ids, null, 0f);
    }

    private void scoreBatch(List<Sample> batch, Object[][] outputs) {
      int longest = batch.get(0).inputIds().length;
      if (engine == null || engine.capacity().maxSeqLen() < longest) {
        releaseEngine();
        // Text is cut at maxSeqLen, so one engine serves the partition; ids may grow it once or twice.
        int capacityLen = Math.max(longest, tokenizer != null ? maxSeqLen : 128);
        engine = new MosaicBert(model.config(), model.heads(), new CpuBackend(threads),
            new MosaicBert.Capacity(batchSize * capacityLen, batchSize, capacityLen, 1));
        engine.backend().upload(engine.parameters().at(0), model.parameters(), 0, model.parameters().length);
      }
      var unpadded = Batches.labelled(batch);
      engine.forward(unpadded, classifier ? MosaicBert.Objective.CLASSIFICATION : MosaicBert.Objective.ENCODE, null);
      ModelConfig config = model.config();
      int labels = config.numLabels();
      int hidden = config.hiddenSize();
      float[] logits = classifier ? engine.classifierLogits() : null;
      float[] states = embedding == Embedding.MEAN ? engine.lastHiddenState() : null;
      float[] pooled = embedding == Embedding.POOLED ? engine.pooledOutput() : null;
      int[] cu = unpadded.cuSeqlens();
      for (int s = 0; s < batch.size(); s++) {
        List<Object> values = new ArrayList<>(5);
        if (classifier && config.isRegression()) {
          values.add((double) logits[s]);
        } else if (classifier) {
          double[] raw = new double[labels];
          for (int k = 0; k < labels; k++) {
            raw[k] = logits[s * labels + k];
          }
          int argmax = argmax(raw);
          values.add(Vectors.dense(raw));
          values.add(Vectors.dense(softmax(raw, raw[argmax])));
          values.add((double) argmax);
          if (config.labels() != null) {
            values.add(config.labels().get(argmax));
          }
        }
        if (embedding == Embedding.MEAN) {
          double[] mean = new double[hidden];
          for (int t = cu[s]; t < cu[s + 1]; t++) {
            for (int c = 0; c < hidden; c++) {
              mean[c] += states[t * hidden + c];
            }
          }
          for (int c = 0; c < hidden; c++) {
            mean[c] /= cu[s + 1] - cu[s];
          }
          values.add(Vectors.dense(mean));
        } else if (embedding == Embedding.POOLED) {
          double[] vector = new double[hidden];
          for (int c = 0; c < hidden; c++) {
            vector[c] = pooled[s * hidden + c];
          }
          values.add(Vectors.dense(vector));
        }
        outputs[(int) batch.get(s).sampleId()] = values.toArray();
      }
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
