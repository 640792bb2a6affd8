package org.mosaicbert.ml;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWriter;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.mosaicbert.data.LiteralPaths;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.model.ParameterLayout;

/**
 * A fitted MosaicBERT: config, weights and vocabulary. {@code transform} reads a text column (and a second one for
 * pairs), tokenized with the model's own vocabulary and casing, or a column of token ids (which one:
 * {@link MosaicBertParams#textColumnIn}, the rule the estimator follows too), and adds MLlib's columns: for a
 * classifier {@code rawPrediction} (logits), {@code probability} and {@code prediction} (the class index, plus
 * {@code predictedLabel} when it was trained on string labels), for a regression head {@code prediction}, and an
 * {@code embedding} (by default for an MLM model, whose pooler is untrained, the mean of the last hidden states; on
 * request for a fine-tuned one, mean or pooled). Texts longer than {@code maxSeqLen} are cut, or with
 * {@code windowStride} scored in overlapping windows and pooled. Spark's evaluators read these columns unchanged.
 * Saved as a flat,
 * Hugging Face-like folder ({@link ModelFolder}) plus Spark's {@code metadata/}.
 */
public final class MosaicBertModel extends Model<MosaicBertModel>
    implements MosaicBertParams<MosaicBertModel>, MLWritable {
  /**
   * Params renamed since models were first saved, old name to new: a saved model's metadata may hold the old name.
   * The thread count was {@code threads} on the model and {@code threadsPerWorker} on the estimator.
   */
  private static final Map<String, String> RENAMED_PARAMS = Map.of("threads", "threadsPerWorker");
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(MosaicBertModel.class);

  private final String uid;
  private final ModelFolder folder;
  private final Definitions shared;
  private final Param<String> embeddingCol;
  private final IntParam batchSize;
  private final Param<String> predictionCol;
  private final Param<String> probabilityCol;
  private final Param<String> rawPredictionCol;
  private final Param<String> predictedLabelCol;
  private final Param<String> embeddingPooling;
  private final IntParam windowStride;
  private final Param<String> precision;

  /**
   * A model without weights. Spark Connect's ML server finds the stages it may load through Java's service loader
   * (META-INF/services/org.apache.spark.ml.Transformer), which needs a public no-argument constructor on each class
   * it lists; such a model cannot score or be saved: a model comes from a fit or from {@link #load}.
   */
  public MosaicBertModel() {
    this(Identifiable$.MODULE$.randomUID("mosaicbertModel"));
  }

  /** A model without weights, named {@code uid}: what Spark Connect makes of a transform naming this class. */
  public MosaicBertModel(String uid) {
    this(uid, null);
  }

  MosaicBertModel(String uid, ModelFolder folder) {
    SparkRelease.requireParamConstructors();
    this.uid = uid;
    this.folder = folder;
    shared = new Definitions(this);
    embeddingCol = new Param<>(this, "embeddingCol", "output column of the embedding (ML Vector); empty: none. "
        + "Default: embedding for an MLM model, none for a fine-tuned one");
    batchSize = new IntParam(this, "batchSize", "sequences per forward pass when scoring", ParamValidators.gtEq(1));
    predictionCol = new Param<>(this, "predictionCol", "output: predicted class index or regression value");
    probabilityCol = new Param<>(this, "probabilityCol", "output: class probabilities (ML Vector)");
    rawPredictionCol = new Param<>(this, "rawPredictionCol", "output: classifier logits (ML Vector)");
    predictedLabelCol = new Param<>(this, "predictedLabelCol", "output: the predicted class name, for a classifier "
        + "trained on string labels");
    embeddingPooling = new Param<>(this, "embeddingPooling", "what embeddingCol holds: mean (of the last hidden "
        + "states over the real tokens) or pooled (the fine-tuned pooler's output for [CLS])",
        ParamValidators.inArray(new String[] {"mean", "pooled"}));
    windowStride = new IntParam(this, "windowStride", "0: texts longer than maxSeqLen are cut to it; N > 0: single "
        + "texts and token-id rows longer than maxSeqLen are scored in windows of maxSeqLen tokens ([CLS] and [SEP] "
        + "in each), each starting N tokens after the one before (at most maxSeqLen - 2), and pooled: the mean of "
        + "the windows' logits and of their embeddings. Pairs are always cut longest-first", ParamValidators.gtEq(0));
    precision = new Param<>(this, "precision", "the arithmetic of the encoder's linear layers when scoring: fp32 "
        + "(what training computes), bf16 (operands rounded to bfloat16, float32 sums) or int8 (int8 weights, "
        + "activations quantized per row, int32 sums); the rest of the model stays float32. On device=gpu the encoder "
        + "runs in bf16 whether this says fp32 or bf16; int8 is the CPU's",
        ParamValidators.inArray(EnumParams.paramValues(Precision.class)));
    setDefault(precision, "fp32");
    setDefault(windowStride, 0);
    setDefault(predictionCol, "prediction");
    setDefault(probabilityCol, "probability");
    setDefault(rawPredictionCol, "rawPrediction");
    setDefault(embeddingCol, folder != null && folder.heads() == ParameterLayout.Heads.CLASSIFIER ? ""
        : "embedding");
    setDefault(embeddingPooling, "mean");
    setDefault(predictedLabelCol, "predictedLabel");
    setDefault(batchSize, 32);
  }

  @Override
  public String uid() {
    return uid;
  }

  // Each param of the model alone, then its setter (MLlib finds params through public no-argument methods); the
  // params it shares with the estimator are MosaicBertParams'.
  public Param<String> predictionCol() { return predictionCol; }
  public MosaicBertModel setPredictionCol(String v) { set(predictionCol, v); return this; }
  public Param<String> probabilityCol() { return probabilityCol; }
  public MosaicBertModel setProbabilityCol(String v) { set(probabilityCol, v); return this; }
  public Param<String> rawPredictionCol() { return rawPredictionCol; }
  public MosaicBertModel setRawPredictionCol(String v) { set(rawPredictionCol, v); return this; }
  public Param<String> predictedLabelCol() { return predictedLabelCol; }
  public MosaicBertModel setPredictedLabelCol(String v) { set(predictedLabelCol, v); return this; }
  public Param<String> embeddingCol() { return embeddingCol; }
  public MosaicBertModel setEmbeddingCol(String v) { set(embeddingCol, v); return this; }
  public Param<String> embeddingPooling() { return embeddingPooling; }
  public MosaicBertModel setEmbeddingPooling(String v) { set(embeddingPooling, v); return this; }
  public IntParam windowStride() { return windowStride; }
  public MosaicBertModel setWindowStride(int v) { set(windowStride, v); return this; }
  public Param<String> precision() { return precision; }
  public MosaicBertModel setPrecision(String v) { set(precision, v); return this; }
  public IntParam batchSize() { return batchSize; }
  public MosaicBertModel setBatchSize(int v) { set(batchSize, v); return this; }

  /** @deprecated the model's old name of the thread count; use {@link #setThreadsPerWorker}. */
  @Deprecated
  public MosaicBertModel setThreads(int v) {
    return setThreadsPerWorker(v);
  }

  /** The model's config, weights (flat, in the engine's parameter layout), vocabulary and tokenizer settings. */
  public ModelFolder folder() {
    if (folder == null) {
      throw new IllegalStateException("MosaicBertModel " + uid + " has no weights: it was made by a constructor "
          + "without a model folder (as Spark's service loader or a Spark Connect transform naming the class makes "
          + "one); fit a MosaicBertEstimator, or load a saved model (MosaicBertModel.load)");
    }
    return folder;
  }

  @Override
  public Definitions sharedParams() {
    return shared;
  }

  @Override
  public StructType transformSchema(StructType schema) {
    List<String> names = Arrays.asList(schema.fieldNames());
    String text = textColumnIn(schema, "score");
    if (!text.isEmpty() && !names.contains(text)) {
      throw new IllegalArgumentException("the input has no column '" + text + "' (textCol); its columns: " + names);
    }
    String pair = getTextPairCol();
    if (!pair.isEmpty() && !names.contains(pair)) {
      throw new IllegalArgumentException("the input has no column '" + pair + "' (textPairCol)");
    }
    int stride = (Integer) getOrDefault(windowStride);
    if (stride > 0) {
      Windows.check(getMaxSeqLen(), stride);
    }
    ModelFolder folder = folder();
    Scorer.Embedding pooling = pooling();
    if (pooling == Scorer.Embedding.POOLED && folder.heads() != ParameterLayout.Heads.CLASSIFIER) {
      throw new IllegalArgumentException("embeddingPooling=pooled needs a fine-tuned model: an MLM checkpoint has no "
          + "trained pooler; use mean");
    }
    StructType out = schema;
    if (folder.heads() == ParameterLayout.Heads.CLASSIFIER) {
      if (!folder.config().isRegression()) {
        out = add(out, rawPredictionCol, SQLDataTypes.VectorType());
        out = add(out, probabilityCol, SQLDataTypes.VectorType());
      }
      out = add(out, predictionCol, DataTypes.DoubleType);
      if (!folder.config().isRegression() && folder.config().labels() != null) {
        out = add(out, predictedLabelCol, DataTypes.StringType);
      }
    }
    return pooling == Scorer.Embedding.NONE ? out : add(out, embeddingCol, SQLDataTypes.VectorType());
  }

  private StructType add(StructType schema, Param<String> column, DataType type) {
    String name = getOrDefault(column);
    if (Arrays.asList(schema.fieldNames()).contains(name)) {
      throw new IllegalArgumentException("the output column '" + name + "' (" + column.name() + ") exists already; "
          + "set " + column.name() + " to another name");
    }
    return schema.add(name, type, true);
  }

  /** What the embedding column holds (NONE when embeddingCol is empty). */
  private Scorer.Embedding pooling() {
    return getOrDefault(embeddingCol).isEmpty() ? Scorer.Embedding.NONE
        : getOrDefault(embeddingPooling).equals("pooled") ? Scorer.Embedding.POOLED : Scorer.Embedding.MEAN;
  }

  @Override
  public Dataset<Row> transform(Dataset<?> dataset) {
    StructType outSchema = transformSchema(dataset.schema());
    ModelFolder folder = folder();
    Broadcast<ModelFolder> model = dataset.sparkSession().sparkContext().broadcast(folder,
        ScalaInterop.classTag(ModelFolder.class));
    List<String> names = Arrays.asList(dataset.schema().fieldNames());
    String textCol = textColumnIn(dataset.schema(), "score");
    boolean text = !textCol.isEmpty();
    int stride = (Integer) getOrDefault(windowStride);
    if (getMaxSeqLen() > folder.config().alibiStartingSize() && (text || stride > 0)) {
      LOG.info("scoring sequences of up to {} tokens (maxSeqLen), past the model's alibi_starting_size of {}: ALiBi "
          + "extrapolates to them, beyond the length the model was configured for", getMaxSeqLen(),
          folder.config().alibiStartingSize());
    }
    SparkContext sc = dataset.sparkSession().sparkContext();
    DevicePlacement device = DevicePlacement.of(getDevice()).resolveForScoring(sc.getConf(), sc.isLocal());
    Precision arithmetic = EnumParams.parse(Precision.class, "precision", getOrDefault(precision));
    if (device == DevicePlacement.GPU) {
      if (arithmetic == Precision.INT8) {
        throw new IllegalArgumentException("precision int8 scores on the CPU (oneDNN); on device=gpu the encoder "
            + "runs in bf16: set precision to bf16 (or fp32, which the GPU also runs in bf16), or device to cpu");
      }
      // The CUDA backend runs every linear layer in bf16 with float32 sums already: the engine's own path.
      arithmetic = Precision.FP32;
    }
    double gpuShare = device == DevicePlacement.GPU
        ? DevicePlacement.scoringShare(sc.getConf(), sc.isLocal(), ClusterSlots.slots(sc)) : 0;
    Scorer scorer = new Scorer(names.indexOf(getInputIdsCol()), text ? names.indexOf(textCol) : -1,
        text && !getTextPairCol().isEmpty() ? names.indexOf(getTextPairCol()) : -1, getMaxSeqLen(), stride,
        (Integer) getOrDefault(batchSize), getThreadsPerWorker(), arithmetic, device,
        gpuShare, pooling(),
        outSchema.size() - dataset.schema().size(), ScoringProgress.counter(sc));
    MapPartitionsFunction<Row, Row> score = rows -> scorer.score(rows, model.value());
    return dataset.toDF().mapPartitions(score, Encoders.row(outSchema));
  }

  @Override
  public MosaicBertModel copy(ParamMap extra) {
    return copyValues(new MosaicBertModel(uid, folder), extra).setParent(parent());
  }

  @Override
  public MLWriter write() {
    return new MLWriter() {
      /**
       * Writes Spark's metadata and the model folder's files into a temporary sibling and renames it into place when
       * all is written: a failure (a full disk: Hadoop's FSError is an Error) leaves no half-written model behind.
       */
      @Override
      public void saveImpl(String path) {
        ModelFolder folder = folder();
        org.apache.hadoop.conf.Configuration conf = sparkSession().sparkContext().hadoopConfiguration();
        org.apache.hadoop.fs.Path target = new org.apache.hadoop.fs.Path(path);
        org.apache.hadoop.fs.Path temporary = new org.apache.hadoop.fs.Path(target.getParent(),
            Leftovers.temporaryName(target));
        org.apache.hadoop.fs.FileSystem fs;
        try {
          fs = target.getFileSystem(conf);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException("cannot write the model to " + path + ": " + e.getMessage(), e);
        }
        try {
          DefaultParamsWriter.saveMetadata(MosaicBertModel.this, temporary.toString(), sparkSession().sparkContext(),
              ScalaInterop.none(), ScalaInterop.none());
          folder.write(temporary.toString(), conf);
          if (!fs.rename(temporary, target)) {
            throw new IOException("cannot rename " + temporary + " to " + target);
          }
        } catch (IOException | org.apache.hadoop.fs.FSError e) {
          throw new java.io.UncheckedIOException("cannot write the model to " + path + ": " + e.getMessage(),
              e instanceof IOException io ? io : new IOException(e));
        } finally {
          try {
            fs.delete(temporary, true);
          } catch (IOException e) {
            // nothing more can be done about a temporary folder that will not go
          }
        }
      }
    };
  }

  public static MLReader<MosaicBertModel> read() {
    return new MLReader<>() {
      @Override
      public MosaicBertModel load(String path) {
        var conf = sparkSession().sparkContext().hadoopConfiguration();
        org.apache.hadoop.fs.Path metadataDir = new org.apache.hadoop.fs.Path(LiteralPaths.of(path), "metadata");
        String metadataJson;
        try {
          if (!metadataDir.getFileSystem(conf).exists(metadataDir)) {
            // A plain model folder (import's or a Hugging Face-like one): default params.
            return ModelFolder.read(path, conf).toModel();
          }
          metadataJson = firstLine(metadataDir, conf);
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException("cannot read " + path + ": " + e.getMessage(), e);
        }
        DefaultParamsReader.Metadata metadata = DefaultParamsReader.parseMetadata(metadataJson,
            MosaicBertModel.class.getName());
        MosaicBertModel model = new MosaicBertModel(metadata.uid(), ModelFolder.read(path,
            sparkSession().sparkContext().hadoopConfiguration()));
        metadata.getAndSetParams(model, ScalaInterop.some(ScalaInterop.list(RENAMED_PARAMS.keySet())));
        setRenamedParams(model, metadata.metadataJson(), path);
        return model;
      }
    };
  }

  /**
   * The first line of Spark's metadata folder: what {@code DefaultParamsReader.loadMetadata} reads, but without its
   * {@code sc.textFile}, which takes the model's path for a glob (and splits it at commas).
   */
  private static String firstLine(org.apache.hadoop.fs.Path metadataDir, org.apache.hadoop.conf.Configuration conf)
      throws java.io.IOException {
    org.apache.hadoop.fs.FileSystem fs = metadataDir.getFileSystem(conf);
    org.apache.hadoop.fs.FileStatus[] files = fs.listStatus(metadataDir, p -> !p.getName().startsWith("_")
        && !p.getName().startsWith("."));
    java.util.Arrays.sort(files);
    for (org.apache.hadoop.fs.FileStatus file : files) {
      if (file.isFile() && file.getLen() > 0) {
        try (java.io.BufferedReader reader = new java.io.BufferedReader(new java.io.InputStreamReader(
            fs.open(file.getPath()), java.nio.charset.StandardCharsets.UTF_8))) {
          String line = reader.readLine();
          if (line != null) {
            return line;
          }
        }
      }
    }
    throw new IllegalArgumentException(metadataDir + " holds no metadata: the model was not saved completely; save "
        + "it again, or remove metadata/ to load the folder with default params");
  }

  /**
   * Sets the values that older metadata saved under a param's old name ({@link #RENAMED_PARAMS}) on the param's new
   * name. Only set values count: an old default is the new param's default.
   */
  private static void setRenamedParams(MosaicBertModel model, String metadataJson, String path) {
    JsonNode saved;
    try {
      saved = new ObjectMapper().readTree(metadataJson).path("paramMap");
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException(path + "/metadata is not valid JSON: " + e.getMessage(), e);
    }
    RENAMED_PARAMS.forEach((oldName, newName) -> {
      if (saved.has(oldName)) {
        Param<Object> param = model.getParam(newName);
        model.set(param, param.jsonDecode(saved.get(oldName).toString()));
      }
    });
  }

  public static MosaicBertModel load(String path) {
    return read().load(path);
  }

}
