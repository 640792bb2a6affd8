package org.mosaicbert.ml;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.resource.ResourceProfile;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.data.HadoopConf;
import org.mosaicbert.data.ShardManifest;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.TokenizerConfig;
import org.mosaicbert.tokenizer.TokenizerLoader;
import org.mosaicbert.tokenizer.Vocabulary;
import org.mosaicbert.train.InitialWeights;
import org.mosaicbert.train.MlmMasking;
import org.mosaicbert.train.Setting;
import org.mosaicbert.train.SettingValues;
import org.mosaicbert.train.StepHook;
import org.mosaicbert.train.TrainPlan;
import org.mosaicbert.train.TrainingSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * MosaicBERT pretraining as an MLlib {@code Estimator}: {@code fit} runs one Spark barrier stage with one task per
 * worker; the tasks form a TCP ring and train data-parallel ({@link BarrierLauncher}). A DataFrame that is a plain
 * read of a shard folder made by {@code mosaicbert tokenize} is read through its manifest, each worker reading only
 * the row groups of its slices; any other DataFrame is ordered by sample id, collected and broadcast (for data that
 * fits in memory, such as fine-tuning sets): {@link TrainingData}. The training params are the training settings
 * ({@link TrainingSettings}), each made from its declaration there, defaults included; the params here are the
 * columns and files of a fit.
 */
public final class MosaicBertEstimator extends Estimator<MosaicBertModel>
    implements MosaicBertParams<MosaicBertEstimator>, DefaultParamsWritable {
  private static final Logger LOG = LoggerFactory.getLogger(MosaicBertEstimator.class);

  private final String uid;
  private final Definitions shared;
  private final SettingParams settings;
  private final Param<String> labelCol;
  private final Param<String> vocab;
  private final Param<String> initModel;
  private final Param<String> tokenizerConfig;
  private final Param<String> sampleIdCol;
  private final Param<String> checkpointDir;
  private final BooleanParam allowChangedSettings;
  /** What every rank calls before each step: how tests make a rank fail (not a param: nothing saves it). */
  private StepHook stepHook = StepHook.NONE;

  public MosaicBertEstimator() {
    this(Identifiable$.MODULE$.randomUID("mosaicbert"));
  }

  public MosaicBertEstimator(String uid) {
    SparkRelease.requireParamConstructors();
    this.uid = uid;
    shared = new Definitions(this);
    settings = new SettingParams(this, TrainingSettings.ALL.stream().filter(s -> !shared.settings.has(s)).toList());
    labelCol = new Param<>(this, "labelCol", "label column (fine-tuning): class index (number), class name (string: the "
        + "model keeps the sorted names) or regression target");
    vocab = new Param<>(this, "vocab", "the vocab.txt of the token ids (the model keeps it)");
    initModel = new Param<>(this, "initModel", "a model folder to start from (empty: fresh weights)");
    tokenizerConfig = new Param<>(this, "tokenizerConfig", "a tokenizer_config.json saying how texts are tokenized "
        + "(do_lower_case, strip_accents, tokenize_chinese_chars); empty: as initModel's, else as the shards' "
        + "manifest says, else uncased. When more than one of these is known, they must agree");
    sampleIdCol = new Param<>(this, "sampleIdCol", "column of long sample ids (the stable order and the key of the "
        + "masks); when absent, the row order is used");
    checkpointDir = new Param<>(this, "checkpointDir", "where checkpoints and metrics.jsonl go (empty: none); a "
        + "fit with an existing checkpointDir resumes from its newest complete checkpoint, if it was trained with the "
        + "same settings. A fit holds it for its whole life (a lock file beside it, .NAME.lock): a second fit there "
        + "is refused while the first runs");
    allowChangedSettings = new BooleanParam(this, "allowChangedSettings", "resume from a checkpoint trained with "
        + "other settings: each change is logged and written beside the checkpoint (false: such a resume is refused, "
        + "naming the settings that differ)");
    setDefault(labelCol, "label");
    setDefault(vocab, "");
    setDefault(initModel, "");
    setDefault(tokenizerConfig, "");
    setDefault(sampleIdCol, "sample_id");
    setDefault(checkpointDir, "");
    setDefault(allowChangedSettings, false);
  }

  @Override
  public String uid() {
    return uid;
  }

  @Override
  public Definitions sharedParams() {
    return shared;
  }

  /** The param of a training setting (MLlib's name for it is the setting's param name). */
  public Param<Object> param(Setting<?> setting) {
    return shared.settings.has(setting) ? shared.settings.of(setting) : settings.of(setting);
  }

  /** Sets a training setting by its declaration (the command line sets every one so); the value is checked. */
  public MosaicBertEstimator set(Setting<?> setting, Object value) {
    set(param(setting), setting.check(value));
    return this;
  }

  /** Every training setting's value on this estimator, set or default. */
  public SettingValues settingValues() {
    return settings.read(this, shared.settings.read(this, SettingValues.defaults()));
  }

  private <T> T value(Setting<T> setting) {
    return setting.type().cast(getOrDefault(param(setting)));
  }

  // The params' accessors and setters, MLlib's and Spark users' way to reach them (MLlib finds params through public
  // no-argument methods); the training settings' come from their declarations, the shared ones are
  // MosaicBertParams'. MosaicBertEstimatorTest checks that every declared setting has both.
  public Param<String> labelCol() { return labelCol; }
  public Param<String> vocab() { return vocab; }
  public Param<String> initModel() { return initModel; }
  public Param<String> tokenizerConfig() { return tokenizerConfig; }
  public Param<String> sampleIdCol() { return sampleIdCol; }
  public Param<String> checkpointDir() { return checkpointDir; }
  public BooleanParam allowChangedSettings() { return allowChangedSettings; }
  @SuppressWarnings("unchecked")
  public Param<String> objective() { return (Param<String>) (Param<?>) param(TrainingSettings.OBJECTIVE); }
  @SuppressWarnings("unchecked")
  public Param<String> modelConfig() { return (Param<String>) (Param<?>) param(TrainingSettings.MODEL_CONFIG); }
  public IntParam numLabels() { return (IntParam) param(TrainingSettings.NUM_LABELS); }
  public IntParam numWorkers() { return (IntParam) param(TrainingSettings.NUM_WORKERS); }
  public IntParam globalBatchSize() { return (IntParam) param(TrainingSettings.GLOBAL_BATCH_SIZE); }
  public IntParam microBatchSize() { return (IntParam) param(TrainingSettings.MICRO_BATCH_SIZE); }
  public IntParam microBatchTokens() { return (IntParam) param(TrainingSettings.MICRO_BATCH_TOKENS); }
  public LongParam maxSteps() { return (LongParam) param(TrainingSettings.MAX_STEPS); }
  public DoubleParam maxEpochs() { return (DoubleParam) param(TrainingSettings.MAX_EPOCHS); }
  public DoubleParam lr() { return (DoubleParam) param(TrainingSettings.LR); }
  public DoubleParam beta1() { return (DoubleParam) param(TrainingSettings.BETA1); }
  public DoubleParam beta2() { return (DoubleParam) param(TrainingSettings.BETA2); }
  public DoubleParam eps() { return (DoubleParam) param(TrainingSettings.EPS); }
  public DoubleParam weightDecay() { return (DoubleParam) param(TrainingSettings.WEIGHT_DECAY); }
  public DoubleParam warmupFraction() { return (DoubleParam) param(TrainingSettings.WARMUP_FRACTION); }
  public DoubleParam alphaF() { return (DoubleParam) param(TrainingSettings.ALPHA_F); }
  public DoubleParam maskProbability() { return (DoubleParam) param(TrainingSettings.MASK_PROBABILITY); }
  public LongParam seed() { return (LongParam) param(TrainingSettings.SEED); }
  public IntParam checkpointEvery() { return (IntParam) param(TrainingSettings.CHECKPOINT_EVERY); }
  public IntParam keepCheckpoints() { return (IntParam) param(TrainingSettings.KEEP_CHECKPOINTS); }
  public IntParam metricsEvery() { return (IntParam) param(TrainingSettings.METRICS_EVERY); }
  public IntParam ringTimeoutSeconds() { return (IntParam) param(TrainingSettings.RING_TIMEOUT_SECONDS); }

  public MosaicBertEstimator setLabelCol(String v) { set(labelCol, v); return this; }
  public MosaicBertEstimator setVocab(String v) { set(vocab, v); return this; }
  public MosaicBertEstimator setInitModel(String v) { set(initModel, v); return this; }
  public MosaicBertEstimator setTokenizerConfig(String v) { set(tokenizerConfig, v); return this; }
  public MosaicBertEstimator setSampleIdCol(String v) { set(sampleIdCol, v); return this; }
  public MosaicBertEstimator setCheckpointDir(String v) { set(checkpointDir, v); return this; }
  public MosaicBertEstimator setAllowChangedSettings(boolean v) { set(allowChangedSettings, v); return this; }
  public MosaicBertEstimator setObjective(String v) { return set(TrainingSettings.OBJECTIVE, v); }
  public MosaicBertEstimator setObjective(TrainingObjective v) { return setObjective(v.paramValue()); }
  public MosaicBertEstimator setModelConfig(String v) { return set(TrainingSettings.MODEL_CONFIG, v); }
  public MosaicBertEstimator setNumLabels(int v) { return set(TrainingSettings.NUM_LABELS, v); }
  public MosaicBertEstimator setNumWorkers(int v) { return set(TrainingSettings.NUM_WORKERS, v); }
  public MosaicBertEstimator setGlobalBatchSize(int v) { return set(TrainingSettings.GLOBAL_BATCH_SIZE, v); }
  public MosaicBertEstimator setMicroBatchSize(int v) { return set(TrainingSettings.MICRO_BATCH_SIZE, v); }
  public MosaicBertEstimator setMicroBatchTokens(int v) { return set(TrainingSettings.MICRO_BATCH_TOKENS, v); }
  public MosaicBertEstimator setMaxSteps(long v) { return set(TrainingSettings.MAX_STEPS, v); }
  public MosaicBertEstimator setMaxEpochs(double v) { return set(TrainingSettings.MAX_EPOCHS, v); }
  public MosaicBertEstimator setLr(double v) { return set(TrainingSettings.LR, v); }
  public MosaicBertEstimator setBeta1(double v) { return set(TrainingSettings.BETA1, v); }
  public MosaicBertEstimator setBeta2(double v) { return set(TrainingSettings.BETA2, v); }
  public MosaicBertEstimator setEps(double v) { return set(TrainingSettings.EPS, v); }
  public MosaicBertEstimator setWeightDecay(double v) { return set(TrainingSettings.WEIGHT_DECAY, v); }
  public MosaicBertEstimator setWarmupFraction(double v) { return set(TrainingSettings.WARMUP_FRACTION, v); }
  public MosaicBertEstimator setAlphaF(double v) { return set(TrainingSettings.ALPHA_F, v); }
  public MosaicBertEstimator setMaskProbability(double v) { return set(TrainingSettings.MASK_PROBABILITY, v); }
  public MosaicBertEstimator setSeed(long v) { return set(TrainingSettings.SEED, v); }
  public MosaicBertEstimator setCheckpointEvery(int v) { return set(TrainingSettings.CHECKPOINT_EVERY, v); }
  public MosaicBertEstimator setKeepCheckpoints(int v) { return set(TrainingSettings.KEEP_CHECKPOINTS, v); }
  public MosaicBertEstimator setMetricsEvery(int v) { return set(TrainingSettings.METRICS_EVERY, v); }
  public MosaicBertEstimator setRingTimeoutSeconds(int v) { return set(TrainingSettings.RING_TIMEOUT_SECONDS, v); }

  /** Sets the hook every rank calls before each step (tests: a rank that fails once, to exercise a retry). */
  MosaicBertEstimator setStepHook(StepHook hook) {
    this.stepHook = hook;
    return this;
  }

  @SuppressWarnings("unchecked")
  private <T> T value(Param<?> p) {
    return (T) getOrDefault(p);
  }

  /** The objective param, parsed. */
  public TrainingObjective getObjective() {
    return TrainingObjective.of(value(TrainingSettings.OBJECTIVE));
  }

  /**
   * The fitted model's output schema, so a Pipeline can check the stages after this one: the input plus, for a
   * classifier, rawPrediction, probability, prediction (and predictedLabel for string labels); for regression,
   * prediction; for MLM, the embedding.
   */
  @Override
  public StructType transformSchema(StructType schema) {
    TrainingObjective trained = getObjective();
    validateInput(schema, trained);
    if (trained == TrainingObjective.MLM) {
      return schema.add("embedding", org.apache.spark.ml.linalg.SQLDataTypes.VectorType(), true);
    }
    StructType out = schema;
    if (trained == TrainingObjective.CLASSIFICATION) {
      out = out.add("rawPrediction", org.apache.spark.ml.linalg.SQLDataTypes.VectorType(), true)
          .add("probability", org.apache.spark.ml.linalg.SQLDataTypes.VectorType(), true);
    }
    out = out.add("prediction", DataTypes.DoubleType, true);
    if (trained == TrainingObjective.CLASSIFICATION
        && schema.apply((String) value(labelCol)).dataType().equals(DataTypes.StringType)) {
      out = out.add("predictedLabel", DataTypes.StringType, true);
    }
    return out;
  }

  private void validateInput(StructType schema, TrainingObjective trained) {
    java.util.List<String> names = java.util.Arrays.asList(schema.fieldNames());
    if (trained.fineTunes()) {
      String label = value(labelCol);
      if (!names.contains(label)) {
        throw new IllegalArgumentException("the input has no column '" + label + "' (labelCol); fine-tuning needs "
            + "labels");
      }
      String text = textColumnIn(schema, "fine-tune on");
      if (!text.isEmpty()) {
        for (String c : new String[] {text, getTextPairCol()}) {
          if (!c.isEmpty() && (!names.contains(c) || !schema.apply(c).dataType().equals(DataTypes.StringType))) {
            throw new IllegalArgumentException("column '" + c + "' must exist and be a string (textCol/textPairCol)");
          }
        }
        return;
      }
    }
    String col = getInputIdsCol();
    if (!java.util.Arrays.asList(schema.fieldNames()).contains(col)) {
      throw new IllegalArgumentException("the input has no column '" + col + "' (inputIdsCol); its columns: "
          + java.util.Arrays.toString(schema.fieldNames()));
    }
    StructField field = schema.apply(col);
    if (!(field.dataType() instanceof ArrayType a) || !a.elementType().equals(DataTypes.IntegerType)) {
      throw new IllegalArgumentException("column '" + col + "' (inputIdsCol) must be array<int>, got "
          + field.dataType().simpleString());
    }
    String sid = value(sampleIdCol);
    if (java.util.Arrays.asList(schema.fieldNames()).contains(sid)
        && !schema.apply(sid).dataType().equals(DataTypes.LongType)) {
      throw new IllegalArgumentException("column '" + sid + "' (sampleIdCol) must be long, got "
          + schema.apply(sid).dataType().simpleString());
    }
  }

  @Override
  public MosaicBertModel fit(Dataset<?> dataset) {
    TrainingObjective trained = getObjective();
    validateInput(dataset.schema(), trained);
    var spark = dataset.sparkSession().sparkContext();
    // Before any Spark job of the fit: on a cluster whose executors cannot start, collecting the data would wait
    // forever.
    DevicePlacement placement = DevicePlacement.of(value(TrainingSettings.DEVICE)).resolve(spark.getConf(),
        spark.isLocal(), value(TrainingSettings.NUM_WORKERS));
    // What the barrier stage asks each task for, when not the application's default: a GPU and the threads.
    ResourceProfile stageProfile = placement == DevicePlacement.GPU
        ? DevicePlacement.gpuStageProfile(spark.getConf(), value(TrainingSettings.THREADS_PER_WORKER)) : null;
    ClusterSlots.check(spark, value(TrainingSettings.NUM_WORKERS), stageProfile);
    String vocabPath = value(vocab);
    if (vocabPath.isEmpty()) {
      throw new IllegalArgumentException("set vocab (setVocab) to the vocab.txt the token ids come from");
    }
    Vocabulary vocabulary = Vocabulary.readVocabTxt(Path.of(vocabPath));
    Configuration hadoopConf = spark.hadoopConfiguration();
    String init = value(initModel);
    ModelConfig config = init.isEmpty() ? resolveConfig(vocabulary.size()) : ModelFolder.readConfig(init, hadoopConf);
    config.requireTrainable(init.isEmpty() ? "modelConfig " + value(TrainingSettings.MODEL_CONFIG)
        : "initModel " + init + "'s " + ModelFolder.CONFIG);
    ShardManifest manifest = trained == TrainingObjective.MLM ? TrainingData.manifestOf(dataset, hadoopConf) : null;
    BertNormalizer normalizer = normalizer(init, manifest, hadoopConf);
    TrainingData.Columns columns = new TrainingData.Columns(trained.fineTunes() ? textColumnIn(dataset.schema(),
        "fine-tune on") : "", getTextPairCol(), getInputIdsCol(),
        value(sampleIdCol), value(labelCol));
    TrainingData data = trained.fineTunes()
        ? TrainingData.fineTuning(dataset, trained, columns, value(TrainingSettings.NUM_LABELS), vocabulary,
            normalizer, config.vocabSize(), getMaxSeqLen(), value(TrainingSettings.SEED))
        : TrainingData.pretraining(dataset, manifest, columns, vocabulary, vocabPath, config.vocabSize(),
            getMaxSeqLen(), value(TrainingSettings.SEED), hadoopConf);
    if (data.labels() != null) {
      config = data.labels().applyTo(config);
    }
    // The length trained at, for model_max_length: the shards' (samples were cut there) or maxSeqLen (texts and ids
    // are cut or checked there); fine-tuning keeps a longer pretraining length, which the encoder has learnt.
    int trainedSeqLen = manifest != null ? manifest.maxSeqLen() : getMaxSeqLen();
    if (init.isEmpty() && ModelConfig.PRESETS.contains(value(TrainingSettings.MODEL_CONFIG))
        && trainedSeqLen > config.alibiStartingSize()) {
      // A preset's ALiBi table is for 512 tokens; trained longer, the model says so, as the configs of the upstream
      // mosaic-bert-base-seqlen-1024 and -2048 do. A config.json is taken as it is.
      LOG.info("alibi_starting_size {} (the length trained at) instead of the preset's {}", trainedSeqLen,
          config.alibiStartingSize());
      config = config.withAlibiStartingSize(trainedSeqLen);
    }
    if (!init.isEmpty()) {
      trainedSeqLen = Math.max(trainedSeqLen, ModelFolder.readTrainedSeqLen(init, hadoopConf));
    }
    LaunchPlan plan = launchPlan(trained, config, vocabulary, data, placement, hadoopConf);
    LOG.info("fit ({}): {} samples, {} steps of {} sequences on {} workers", trained.paramValue(), data.epochSize(),
        plan.training().totalSteps(), plan.training().batching().globalBatchSize(), plan.workers());
    LOG.debug("params: {}", explainParams().replace('\n', ';'));
    float[] params;
    // The checkpoint location is this fit's for its whole life: another fit there is refused at once.
    try (OutputLock lock = plan.checkpointDir().isEmpty() ? null
        : OutputLock.acquire(plan.checkpointDir(), "checkpointDir", "MosaicBertEstimator.fit", hadoopConf)) {
      ResumeCheck.beforeFit(plan, value(allowChangedSettings), hadoopConf);
      if (!init.isEmpty()) {
        // Read once here: weights every rank would refuse (not finite, the wrong shape) fail now, not in each
        // attempt of the barrier stage.
        plan.initial().values(new ParameterLayout(config, plan.training().heads()), config,
            plan.training().seed());
      }
      params = BarrierLauncher.run(dataset.sparkSession(), plan, stageProfile, data.stream(), stepHook);
    }
    List<String> tokens = new ArrayList<>();
    for (int i = 0; i < vocabulary.size(); i++) {
      tokens.add(vocabulary.token(i));
    }
    ModelFolder folder = new ModelFolder(config, plan.training().heads(), params, tokens, normalizer, trainedSeqLen);
    return copyValues(new MosaicBertModel(uid, folder), extractParamMap()).setParent(this);
  }

  /** The plan of a fit, from the params and what the data and the vocabulary say: the one place it is built. */
  LaunchPlan launchPlan(TrainingObjective trained, ModelConfig config, Vocabulary vocabulary,
      TrainingData data, DevicePlacement placement, Configuration hadoopConf) {
    MlmMasking.Tokens maskTokens = null;
    if (trained == TrainingObjective.MLM) {
      int maskId = vocabulary.id("[MASK]");
      if (maskId < 0) {
        throw new IllegalArgumentException("vocabulary " + value(vocab) + " has no [MASK] token");
      }
      int[] special = TokenizerLoader.BERT_SPECIAL_TOKENS.stream().mapToInt(vocabulary::id).filter(id -> id >= 0)
          .toArray();
      maskTokens = new MlmMasking.Tokens(maskId, vocabulary.size(), special);
    }
    TrainPlan training = new TrainPlan(trained.engineObjective(), config, settingValues(), data.epochSize(),
        data.longestSample(), maskTokens);
    String init = LaunchPlan.resolveOnDriver(value(initModel), hadoopConf);
    InitialWeights initial = init.isEmpty() ? InitialWeights.fromSeed()
        : new InitModelWeights(init, HadoopConf.of(hadoopConf), training.heads());
    return new LaunchPlan(training, placement, LaunchPlan.resolveOnDriver(value(checkpointDir), hadoopConf), initial);
  }

  /**
   * How texts are tokenized, in fine-tuning and by the fitted model: as the model was trained. What says so
   * (tokenizerConfig, initModel's folder, the shards' manifest) must agree, since a model knows its tokens one way
   * only; when nothing does (token ids of an unknown source, a fresh classifier), uncased, BERT's default.
   */
  private BertNormalizer normalizer(String init, ShardManifest manifest, Configuration conf) {
    Map<String, BertNormalizer> known = new LinkedHashMap<>();
    String file = value(tokenizerConfig);
    if (!file.isEmpty()) {
      known.put("tokenizerConfig " + file, TokenizerConfig.read(Path.of(file)));
    }
    if (!init.isEmpty()) {
      known.put("initModel " + init, ModelFolder.readNormalizer(init, conf));
    }
    if (manifest != null) {
      known.put("the shards' " + ShardManifest.FILE_NAME, manifest.tokenizer().normalizer());
    }
    if (known.values().stream().distinct().count() > 1) {
      throw new IllegalArgumentException("the tokenizer settings disagree: " + known + "; a model must see texts "
          + "tokenized as in its training: use shards and an initModel tokenized alike, and leave tokenizerConfig "
          + "empty or give the initModel's tokenizer_config.json");
    }
    BertNormalizer normalizer = known.values().stream().findFirst().orElse(BertNormalizer.uncased());
    LOG.info("texts are tokenized {} ({})", normalizer.lowercase() ? "uncased" : "cased",
        known.isEmpty() ? "nothing says otherwise" : String.join(", ", known.keySet()));
    return normalizer;
  }

  private ModelConfig resolveConfig(int vocabularySize) {
    String value = value(TrainingSettings.MODEL_CONFIG);
    if (ModelConfig.PRESETS.contains(value)) {
      return ModelConfig.preset(value, vocabularySize);
    }
    if (!new File(value).isFile()) {
      throw new IllegalArgumentException("modelConfig '" + value + "' is neither a preset " + ModelConfig.PRESETS
          + " nor an existing config.json");
    }
    ModelConfig config = ModelConfig.read(Path.of(value));
    if (config.vocabSize() < vocabularySize) {
      throw new IllegalArgumentException(value + ": vocab_size " + config.vocabSize() + " is smaller than the "
          + vocabularySize + " tokens of the vocabulary");
    }
    return config;
  }

  @Override
  public MosaicBertEstimator copy(ParamMap extra) {
    return defaultCopy(extra);
  }

  public static MLReader<MosaicBertEstimator> read() {
    return new DefaultParamsReader<>();
  }

  public static MosaicBertEstimator load(String path) {
    return read().load(path);
  }
}
