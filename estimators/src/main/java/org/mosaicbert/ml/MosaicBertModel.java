package org.mosaicbert.ml;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWriter;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructType;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.model.UnpaddedBatch;

/**
 * A fitted MosaicBERT: config, weights and vocabulary. For the MLM objective {@code transform} adds an
 * {@code embedding} column: the mean of the last hidden states over the real tokens (an MLM checkpoint has no
 * trained pooler). Saved as a flat, Hugging Face-like folder ({@link ModelFolder}) plus Spark's {@code metadata/}.
 */
public final class MosaicBertModel extends Model<MosaicBertModel> implements MLWritable {
  private final String uid;
  private final ModelFolder folder;
  private final Param<String> inputIdsCol;
  private final Param<String> embeddingCol;
  private final IntParam batchSize;
  private final IntParam threads;
  private final Param<String> textCol;
  private final Param<String> textPairCol;
  private final IntParam maxSeqLen;
  private final Param<String> predictionCol;
  private final Param<String> probabilityCol;
  private final Param<String> rawPredictionCol;

  MosaicBertModel(String uid, ModelFolder folder) {
    this.uid = uid;
    this.folder = folder;
    inputIdsCol = new Param<>(this, "inputIdsCol", "column of token ids, array<int>");
    embeddingCol = new Param<>(this, "embeddingCol", "output column: the mean last hidden state (ML Vector)");
    batchSize = new IntParam(this, "batchSize", "sequences per forward pass when scoring", ParamValidators.gtEq(1));
    threads = new IntParam(this, "threads", "CPU threads per scoring task", ParamValidators.gtEq(1));
    textCol = new Param<>(this, "textCol", "text column to tokenize (empty: use inputIdsCol)");
    textPairCol = new Param<>(this, "textPairCol", "second text column of a pair task");
    maxSeqLen = new IntParam(this, "maxSeqLen", "longest sequence after tokenization", ParamValidators.gtEq(2));
    predictionCol = new Param<>(this, "predictionCol", "output: predicted class index or regression value");
    probabilityCol = new Param<>(this, "probabilityCol", "output: class probabilities (ML Vector)");
    rawPredictionCol = new Param<>(this, "rawPredictionCol", "output: classifier logits (ML Vector)");
    setDefault(textCol, "");
    setDefault(textPairCol, "");
    setDefault(maxSeqLen, 512);
    setDefault(predictionCol, "prediction");
    setDefault(probabilityCol, "probability");
    setDefault(rawPredictionCol, "rawPrediction");
    setDefault(inputIdsCol, "input_ids");
    setDefault(embeddingCol, "embedding");
    setDefault(batchSize, 32);
    setDefault(threads, 1);
  }

  @Override
  public String uid() {
    return uid;
  }

  public Param<String> inputIdsCol() { return inputIdsCol; }
  public Param<String> textCol() { return textCol; }
  public Param<String> textPairCol() { return textPairCol; }
  public IntParam maxSeqLen() { return maxSeqLen; }
  public Param<String> predictionCol() { return predictionCol; }
  public Param<String> probabilityCol() { return probabilityCol; }
  public Param<String> rawPredictionCol() { return rawPredictionCol; }
  public MosaicBertModel setTextCol(String v) { set(textCol, v); return this; }
  public MosaicBertModel setTextPairCol(String v) { set(textPairCol, v); return this; }
  public Param<String> embeddingCol() { return embeddingCol; }
  public IntParam batchSize() { return batchSize; }
  public IntParam threads() { return threads; }

  public MosaicBertModel setInputIdsCol(String v) { set(inputIdsCol, v); return this; }
  public MosaicBertModel setEmbeddingCol(String v) { set(embeddingCol, v); return this; }
  public MosaicBertModel setBatchSize(int v) { set(batchSize, v); return this; }
  public MosaicBertModel setThreads(int v) { set(threads, v); return this; }

  /** The model's config, weights (flat, in the engine's parameter layout) and vocabulary. */
  public ModelFolder folder() {
    return folder;
  }

  @Override
  public StructType transformSchema(StructType schema) {
    if (folder.heads() == ParameterLayout.Heads.CLASSIFIER) {
      String in = getOrDefault(textCol).isEmpty() ? getOrDefault(inputIdsCol) : getOrDefault(textCol);
      if (!Arrays.asList(schema.fieldNames()).contains(in)) {
        throw new IllegalArgumentException("the input has no column '" + in + "' (textCol or inputIdsCol)");
      }
      StructType out = schema;
      if (!folder.config().isRegression()) {
        out = out.add(getOrDefault(rawPredictionCol), SQLDataTypes.VectorType(), true)
            .add(getOrDefault(probabilityCol), SQLDataTypes.VectorType(), true);
      }
      return out.add(getOrDefault(predictionCol), org.apache.spark.sql.types.DataTypes.DoubleType, true);
    }
    String in = getOrDefault(inputIdsCol);
    String out = getOrDefault(embeddingCol);
    if (!Arrays.asList(schema.fieldNames()).contains(in)) {
      throw new IllegalArgumentException("the input has no column '" + in + "' (inputIdsCol)");
    }
    if (Arrays.asList(schema.fieldNames()).contains(out)) {
      throw new IllegalArgumentException("the output column '" + out + "' (embeddingCol) exists already");
    }
    return schema.add(out, SQLDataTypes.VectorType(), true);
  }

  @Override
  public Dataset<Row> transform(Dataset<?> dataset) {
    StructType outSchema = transformSchema(dataset.schema());
    Broadcast<ModelFolder> model = dataset.sparkSession().sparkContext().broadcast(folder,
        scala.reflect.ClassTag$.MODULE$.apply(ModelFolder.class));
    List<String> names = Arrays.asList(dataset.schema().fieldNames());
    int idsIndex = names.indexOf(getOrDefault(inputIdsCol));
    int textIndex = getOrDefault(textCol).isEmpty() ? -1 : names.indexOf(getOrDefault(textCol));
    int pairIndex = getOrDefault(textPairCol).isEmpty() ? -1 : names.indexOf(getOrDefault(textPairCol));
    int maxLen = (Integer) getOrDefault(maxSeqLen);
    boolean classifier = folder.heads() == ParameterLayout.Heads.CLASSIFIER;
    int batch = (Integer) getOrDefault(batchSize);
    int threadCount = (Integer) getOrDefault(threads);
    int hidden = folder.config().hiddenSize();
    MapPartitionsFunction<Row, Row> score = rows -> {
      List<Row> out = new ArrayList<>();
      List<Row> pending = new ArrayList<>();
      MosaicBert engine = null;
      org.mosaicbert.tokenizer.BertWordPieceTokenizer tokenizer = textIndex < 0 ? null
          : org.mosaicbert.tokenizer.TokenizerSpec.bert(model.value().vocab(),
              org.mosaicbert.tokenizer.BertNormalizer.uncased()).build();
      try {
        while (rows.hasNext() || !pending.isEmpty()) {
          if (rows.hasNext()) {
            pending.add(rows.next());
            if (pending.size() < batch && rows.hasNext()) {
              continue;
            }
          }
          int longest = tokenizer != null ? maxLen
              : pending.stream().mapToInt(r -> r.isNullAt(idsIndex) ? 0 : r.getList(idsIndex).size()).max().orElse(0);
          if (engine == null || engine.capacity().maxSeqLen() < longest) {
            if (engine != null) {
              engine.close();
            }
            ModelFolder f = model.value();
            engine = new MosaicBert(f.config(), f.heads(), new CpuBackend(threadCount),
                new MosaicBert.Capacity(batch * Math.max(longest, 128), batch, Math.max(longest, 128), 1));
            engine.backend().upload(engine.parameters().at(0), f.parameters(), 0, f.parameters().length);
          }
          out.addAll(classifier ? classify(engine, pending, idsIndex, textIndex, pairIndex, tokenizer, maxLen)
              : embed(engine, pending, idsIndex, hidden));
          pending.clear();
        }
      } finally {
        if (engine != null) {
          engine.close();
        }
      }
      return out.iterator();
    };
    return dataset.toDF().mapPartitions(score, Encoders.row(outSchema));
  }

  /**
   * Classifier outputs of a batch of rows: rawPrediction (logits), probability and prediction for classification,
   * prediction alone for regression. A row with no text or ids gets nulls.
   */
  private static List<Row> classify(MosaicBert engine, List<Row> rows, int idsIndex, int textIndex, int pairIndex,
      org.mosaicbert.tokenizer.BertWordPieceTokenizer tokenizer, int maxLen) {
    List<org.mosaicbert.train.Sample> samples = new ArrayList<>();
    List<Integer> scored = new ArrayList<>();
    for (int i = 0; i < rows.size(); i++) {
      Row r = rows.get(i);
      int[] ids;
      int[] types;
      if (tokenizer != null) {
        if (r.isNullAt(textIndex) || r.getString(textIndex).isEmpty()) {
          continue;
        }
        org.mosaicbert.tokenizer.Encoding e = tokenizer.encode(r.getString(textIndex),
            pairIndex < 0 ? null : r.isNullAt(pairIndex) ? "" : r.getString(pairIndex), maxLen);
        ids = e.ids();
        types = e.typeIds();
      } else {
        if (r.isNullAt(idsIndex) || r.getList(idsIndex).isEmpty()) {
          continue;
        }
        List<Integer> list = r.getList(idsIndex);
        ids = list.stream().mapToInt(Integer::intValue).toArray();
        types = new int[ids.length];
      }
      samples.add(new org.mosaicbert.train.Sample(i, ids, types, 0f));
      scored.add(i);
    }
    int labels = engine.config().numLabels();
    float[] logits = new float[0];
    if (!samples.isEmpty()) {
      engine.forward(org.mosaicbert.train.Batches.labelled(samples), MosaicBert.Objective.CLASSIFICATION, null);
      logits = engine.classifierLogits();
    }
    List<Row> out = new ArrayList<>();
    int s = 0;
    for (int i = 0; i < rows.size(); i++) {
      Row r = rows.get(i);
      boolean has = s < scored.size() && scored.get(s) == i;
      int extra = labels == 1 ? 1 : 3;
      Object[] values = new Object[r.size() + extra];
      for (int c = 0; c < r.size(); c++) {
        values[c] = r.get(c);
      }
      if (has) {
        if (labels == 1) {
          values[r.size()] = (double) logits[s];
        } else {
          double[] raw = new double[labels];
          double max = Double.NEGATIVE_INFINITY;
          int argmax = 0;
          for (int k = 0; k < labels; k++) {
            raw[k] = logits[s * labels + k];
            if (raw[k] > max) {
              max = raw[k];
              argmax = k;
            }
          }
          double[] probability = new double[labels];
          double sum = 0;
          for (int k = 0; k < labels; k++) {
            probability[k] = Math.exp(raw[k] - max);
            sum += probability[k];
          }
          for (int k = 0; k < labels; k++) {
            probability[k] /= sum;
          }
          values[r.size()] = Vectors.dense(raw);
          values[r.size() + 1] = Vectors.dense(probability);
          values[r.size() + 2] = (double) argmax;
        }
        s++;
      }
      out.add(RowFactory.create(values));
    }
    return out;
  }

  /** Mean-pooled last hidden states of a batch of rows (null or empty ids give a null embedding). */
  private static List<Row> embed(MosaicBert engine, List<Row> rows, int idsIndex, int hidden) {
    List<org.mosaicbert.train.Sample> seqs = new ArrayList<>();
    for (Row r : rows) {
      if (!r.isNullAt(idsIndex) && !r.getList(idsIndex).isEmpty()) {
        List<Integer> ids = r.getList(idsIndex);
        seqs.add(new org.mosaicbert.train.Sample(seqs.size(), ids.stream().mapToInt(Integer::intValue).toArray(),
            null, 0f));
      }
    }
    float[] states = new float[0];
    int[] cu = new int[seqs.size() + 1];
    if (!seqs.isEmpty()) {
      UnpaddedBatch batch = org.mosaicbert.train.Batches.labelled(seqs);
      cu = batch.cuSeqlens();
      engine.forward(batch, MosaicBert.Objective.ENCODE, null);
      states = engine.lastHiddenState();
    }
    List<Row> out = new ArrayList<>();
    int s = 0;
    for (Row r : rows) {
      Object[] values = new Object[r.size() + 1];
      for (int i = 0; i < r.size(); i++) {
        values[i] = r.get(i);
      }
      if (!r.isNullAt(idsIndex) && !r.getList(idsIndex).isEmpty()) {
        double[] mean = new double[hidden];
        for (int t = cu[s]; t < cu[s + 1]; t++) {
          for (int c = 0; c < hidden; c++) {
            mean[c] += states[t * hidden + c];
          }
        }
        int len = cu[s + 1] - cu[s];
        for (int c = 0; c < hidden; c++) {
          mean[c] /= len;
        }
        values[r.size()] = Vectors.dense(mean);
        s++;
      }
      out.add(RowFactory.create(values));
    }
    return out;
  }

  @Override
  public MosaicBertModel copy(ParamMap extra) {
    return copyValues(new MosaicBertModel(uid, folder), extra).setParent(parent());
  }

  @Override
  public MLWriter write() {
    return new MLWriter() {
      @Override
      public void saveImpl(String path) {
        DefaultParamsWriter.saveMetadata(MosaicBertModel.this, path, sparkSession().sparkContext(),
            scala.Option.empty(), scala.Option.empty());
        folder.write(path, sparkSession().sparkContext().hadoopConfiguration());
      }
    };
  }

  public static MLReader<MosaicBertModel> read() {
    return new MLReader<>() {
      @Override
      public MosaicBertModel load(String path) {
        DefaultParamsReader.Metadata metadata = DefaultParamsReader.loadMetadata(path, sparkSession().sparkContext(),
            MosaicBertModel.class.getName());
        MosaicBertModel model = new MosaicBertModel(metadata.uid(), ModelFolder.read(path,
            sparkSession().sparkContext().hadoopConfiguration()));
        metadata.getAndSetParams(model, scala.Option.empty());
        return model;
      }
    };
  }

  public static MosaicBertModel load(String path) {
    return read().load(path);
  }

}
