package org.mosaicbert.ml;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.data.HadoopConf;
import org.mosaicbert.data.ShardManifest;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.TokenizerConfig;
import org.mosaicbert.tokenizer.TokenizerLoader;
import org.mosaicbert.tokenizer.Vocabulary;
import org.mosaicbert.train.DecoupledAdamW;
import org.mosaicbert.train.InitialWeights;
import org.mosaicbert.train.LinearWithWarmup;
import org.mosaicbert.train.MlmMasking;
import org.mosaicbert.train.StepHook;
import org.mosaicbert.train.TrainPlan;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * MosaicBERT pretraining as an MLlib {@code Estimator}: {@code fit} runs one Spark barrier stage with one task per
 * worker; the tasks form a TCP ring and train data-parallel ({@link BarrierLauncher}). A DataFrame that is a plain
 * read of a shard folder made by {@code mosaicbert tokenize} is read through its manifest, each worker reading only
 * the row groups of its slices; any other DataFrame is ordered by sample id, collected and broadcast (for data that
 * fits in memory, such as fine-tuning sets): {@link TrainingData}. Defaults follow the MosaicBERT
 * recipe (spec section 3) where it fits a preset: lr 5e-4, betas (0.9, 0.98), eps 1e-6, weight decay 1e-5, warmup 6%,
 * alpha_f 0.02, 30% masking.
 */
public final class MosaicBertEstimator extends Estimator<MosaicBertModel>
    implements MosaicBertParams<MosaicBertEstimator>, DefaultParamsWritable {
  private static final Logger LOG = LoggerFactory.getLogger(MosaicBertEstimator.class);

  private final String uid;
  private final Definitions shared;
  private final Param<String> objective;
  private final Param<String> labelCol;
  private final IntParam numLabels;
  private final Param<String> modelConfig;
  private final Param<String> vocab;
  private final Param<String> initModel;
  private final Param<String> tokenizerConfig;
  private final Param<String> sampleIdCol;
  private final IntParam numWorkers;
  private final Param<String> device;
  private final IntParam globalBatchSize;
  private final IntParam microBatchSize;
  private final IntParam microBatchTokens;
  private final LongParam maxSteps;
  private final DoubleParam maxEpochs;
  private final DoubleParam lr;
  private final DoubleParam warmupFraction;
  private final DoubleParam alphaF;
  private final DoubleParam weightDecay;
  private final DoubleParam beta1;
  private final DoubleParam beta2;
  private final DoubleParam eps;
  private final DoubleParam maskProbability;
  private final LongParam seed;
  private final Param<String> checkpointDir;
  private final IntParam checkpointEvery;
  private final IntParam metricsEvery;
  private final IntParam ringTimeoutSeconds;
  /** What every rank calls before each step: how tests make a rank fail (not a param: nothing saves it). */
  private StepHook stepHook = StepHook.NONE;

  public MosaicBertEstimator() {
    this(Identifiable$.MODULE$.randomUID("mosaicbert"));
  }

  public MosaicBertEstimator(String uid) {
    this.uid = uid;
    shared = new Definitions(this);
    objective = new Param<>(this, "objective", "what to train: mlm (pretraining), classification or regression "
        + "(fine-tuning)", ParamValidators.inArray(TrainingObjective.paramValues()));
    labelCol = new Param<>(this, "labelCol", "label column (fine-tuning): class index (number), class name (string: the "
        + "model keeps the sorted names) or regression target");
    numLabels = new IntParam(this, "numLabels", "classes of a classification head (0: from the data)",
        ParamValidators.gtEq(0));
    modelConfig = new Param<>(this, "modelConfig", "a preset (tiny, mini, small, base, large) or the path of a "
        + "config.json");
    vocab = new Param<>(this, "vocab", "the vocab.txt of the token ids (the model keeps it)");
    initModel = new Param<>(this, "initModel", "a model folder to start from (empty: fresh weights)");
    tokenizerConfig = new Param<>(this, "tokenizerConfig", "a tokenizer_config.json saying how texts are tokenized "
        + "(do_lower_case, strip_accents, tokenize_chinese_chars); empty: as initModel's, else as the shards' "
        + "manifest says, else uncased. When more than one of these is known, they must agree");
    sampleIdCol = new Param<>(this, "sampleIdCol", "column of long sample ids (the stable order and the key of the "
        + "masks); when absent, the row order is used");
    numWorkers = new IntParam(this, "numWorkers", "data-parallel workers (barrier tasks)", ParamValidators.gtEq(1));
    device = new Param<>(this, "device", "cpu, gpu or auto", ParamValidators.inArray(DevicePlacement.paramValues()));
    globalBatchSize = new IntParam(this, "globalBatchSize", "sequences per optimizer step, all workers together",
        ParamValidators.gtEq(1));
    microBatchSize = new IntParam(this, "microBatchSize", "sequences per forward/backward pass of one worker",
        ParamValidators.gtEq(1));
    microBatchTokens = new IntParam(this, "microBatchTokens", "the most tokens of one forward/backward pass of one "
        + "worker, for long sequences (0: no bound beyond microBatchSize); at least the longest sample",
        ParamValidators.gtEq(0));
    maxSteps = new LongParam(this, "maxSteps", "optimizer steps (0: use maxEpochs)", ParamValidators.gtEq(0));
    maxEpochs = new DoubleParam(this, "maxEpochs", "passes over the data when maxSteps is 0", ParamValidators.gt(0));
    lr = new DoubleParam(this, "lr", "peak learning rate", ParamValidators.gt(0));
    warmupFraction = new DoubleParam(this, "warmupFraction", "share of the steps spent warming up",
        ParamValidators.inRange(0, 1));
    alphaF = new DoubleParam(this, "alphaF", "final learning-rate factor", ParamValidators.inRange(0, 1));
    weightDecay = new DoubleParam(this, "weightDecay", "decoupled weight decay", ParamValidators.gtEq(0));
    beta1 = new DoubleParam(this, "beta1", "Adam beta1", ParamValidators.inRange(0, 1, true, false));
    beta2 = new DoubleParam(this, "beta2", "Adam beta2", ParamValidators.inRange(0, 1, true, false));
    eps = new DoubleParam(this, "eps", "Adam epsilon", ParamValidators.gt(0));
    maskProbability = new DoubleParam(this, "maskProbability", "share of tokens masked", ParamValidators.inRange(0, 1,
        false, false));
    seed = new LongParam(this, "seed", "seed of initialisation, data order, masks and dropout");
    checkpointDir = new Param<>(this, "checkpointDir", "where checkpoints and metrics.jsonl go (empty: none); a "
        + "fit with an existing checkpointDir resumes from its newest complete checkpoint");
    checkpointEvery = new IntParam(this, "checkpointEvery", "steps between checkpoints", ParamValidators.gtEq(1));
    metricsEvery = new IntParam(this, "metricsEvery", "steps between metrics lines", ParamValidators.gtEq(1));
    ringTimeoutSeconds = new IntParam(this, "ringTimeoutSeconds", "seconds a worker waits for a peer before the "
        + "step fails", ParamValidators.gtEq(1));
    setDefault(objective, TrainingObjective.MLM.paramValue());
    setDefault(labelCol, "label");
    setDefault(numLabels, 0);
    setDefault(modelConfig, "tiny");
    setDefault(vocab, "");
    setDefault(initModel, "");
    setDefault(tokenizerConfig, "");
    setDefault(sampleIdCol, "sample_id");
    setDefault(numWorkers, 1);
    setDefault(device, "auto");
    setDefault(globalBatchSize, 32);
    setDefault(microBatchSize, 32);
    setDefault(microBatchTokens, 0);
    setDefault(maxSteps, 0L);
    setDefault(maxEpochs, 1.0);
    setDefault(lr, 5e-4);
    setDefault(warmupFraction, 0.06);
    setDefault(alphaF, 0.02);
    setDefault(weightDecay, 1e-5);
    setDefault(beta1, 0.9);
    setDefault(beta2, 0.98);
    setDefault(eps, 1e-6);
    setDefault(maskProbability, 0.3);
    setDefault(seed, 17L);
    setDefault(checkpointDir, "");
    setDefault(checkpointEvery, 100);
    setDefault(metricsEvery, 10);
    setDefault(ringTimeoutSeconds, 300);
  }

  @Override
  public String uid() {
    return uid;
  }

  @Override
  public Definitions sharedParams() {
    return shared;
  }

  // Param accessors (MLlib finds params through public no-argument methods); the shared ones are MosaicBertParams'.
  public Param<String> objective() { return objective; }
  public Param<String> labelCol() { return labelCol; }
  public IntParam numLabels() { return numLabels; }
  public Param<String> modelConfig() { return modelConfig; }
  public Param<String> vocab() { return vocab; }
  public Param<String> initModel() { return initModel; }
  public Param<String> tokenizerConfig() { return tokenizerConfig; }
  public Param<String> sampleIdCol() { return sampleIdCol; }
  public IntParam numWorkers() { return numWorkers; }
  public Param<String> device() { return device; }
  public IntParam globalBatchSize() { return globalBatchSize; }
  public IntParam microBatchSize() { return microBatchSize; }
  public IntParam microBatchTokens() { return microBatchTokens; }
  public LongParam maxSteps() { return maxSteps; }
  public DoubleParam maxEpochs() { return maxEpochs; }
  public DoubleParam lr() { return lr; }
  public DoubleParam warmupFraction() { return warmupFraction; }
  public DoubleParam alphaF() { return alphaF; }
  public DoubleParam weightDecay() { return weightDecay; }
  public DoubleParam beta1() { return beta1; }
  public DoubleParam beta2() { return beta2; }
  public DoubleParam eps() { return eps; }
  public DoubleParam maskProbability() { return maskProbability; }
  public LongParam seed() { return seed; }
  public Param<String> checkpointDir() { return checkpointDir; }
  public IntParam checkpointEvery() { return checkpointEvery; }
  public IntParam metricsEvery() { return metricsEvery; }
  public IntParam ringTimeoutSeconds() { return ringTimeoutSeconds; }

  public MosaicBertEstimator setObjective(String v) { set(objective, v); return this; }
  public MosaicBertEstimator setObjective(TrainingObjective v) { return setObjective(v.paramValue()); }
  public MosaicBertEstimator setLabelCol(String v) { set(labelCol, v); return this; }
  public MosaicBertEstimator setNumLabels(int v) { set(numLabels, v); return this; }
  public MosaicBertEstimator setModelConfig(String v) { set(modelConfig, v); return this; }
  public MosaicBertEstimator setVocab(String v) { set(vocab, v); return this; }
  public MosaicBertEstimator setInitModel(String v) { set(initModel, v); return this; }
  public MosaicBertEstimator setTokenizerConfig(String v) { set(tokenizerConfig, v); return this; }
  public MosaicBertEstimator setSampleIdCol(String v) { set(sampleIdCol, v); return this; }
  public MosaicBertEstimator setNumWorkers(int v) { set(numWorkers, v); return this; }
  public MosaicBertEstimator setDevice(String v) { set(device, v); return this; }
  public MosaicBertEstimator setGlobalBatchSize(int v) { set(globalBatchSize, v); return this; }
  public MosaicBertEstimator setMicroBatchSize(int v) { set(microBatchSize, v); return this; }
  public MosaicBertEstimator setMicroBatchTokens(int v) { set(microBatchTokens, v); return this; }
  public MosaicBertEstimator setMaxSteps(long v) { set(maxSteps, v); return this; }
  public MosaicBertEstimator setMaxEpochs(double v) { set(maxEpochs, v); return this; }
  public MosaicBertEstimator setLr(double v) { set(lr, v); return this; }
  public MosaicBertEstimator setWarmupFraction(double v) { set(warmupFraction, v); return this; }
  public MosaicBertEstimator setAlphaF(double v) { set(alphaF, v); return this; }
  public MosaicBertEstimator setWeightDecay(double v) { set(weightDecay, v); return this; }
  public MosaicBertEstimator setBeta1(double v) { set(beta1, v); return this; }
  public MosaicBertEstimator setBeta2(double v) { set(beta2, v); return this; }
  public MosaicBertEstimator setEps(double v) { set(eps, v); return this; }
  public MosaicBertEstimator setMaskProbability(double v) { set(maskProbability, v); return this; }
  public MosaicBertEstimator setSeed(long v) { set(seed, v); return this; }
  public MosaicBertEstimator setCheckpointDir(String v) { set(checkpointDir, v); return this; }
  public MosaicBertEstimator setCheckpointEvery(int v) { set(checkpointEvery, v); return this; }
  public MosaicBertEstimator setMetricsEvery(int v) { set(metricsEvery, v); return this; }
  public MosaicBertEstimator setRingTimeoutSeconds(int v) { set(ringTimeoutSeconds, v); return this; }

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
    return TrainingObjective.of(value(objective));
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
      String text = getTextCol();
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
    DevicePlacement placement = DevicePlacement.of(value(device)).resolve(spark.getConf(), spark.isLocal());
    String vocabPath = value(vocab);
    if (vocabPath.isEmpty()) {
      throw new IllegalArgumentException("set vocab (setVocab) to the vocab.txt the token ids come from");
    }
    Vocabulary vocabulary = Vocabulary.readVocabTxt(Path.of(vocabPath));
    Configuration hadoopConf = spark.hadoopConfiguration();
    String init = value(initModel);
    ModelConfig config = init.isEmpty() ? resolveConfig(vocabulary.size()) : ModelFolder.readConfig(init, hadoopConf);
    ShardManifest manifest = trained == TrainingObjective.MLM ? TrainingData.manifestOf(dataset, hadoopConf) : null;
    BertNormalizer normalizer = normalizer(init, manifest, hadoopConf);
    TrainingData.Columns columns = new TrainingData.Columns(getTextCol(), getTextPairCol(), getInputIdsCol(),
        value(sampleIdCol), value(labelCol));
    TrainingData data = trained.fineTunes()
        ? TrainingData.fineTuning(dataset, trained, columns, value(numLabels), vocabulary, normalizer,
            config.vocabSize(), getMaxSeqLen(), value(seed))
        : TrainingData.pretraining(dataset, manifest, columns, vocabulary, vocabPath, config.vocabSize(),
            getMaxSeqLen(), value(seed), hadoopConf);
    if (data.labels() != null) {
      config = data.labels().applyTo(config);
    }
    // The length trained at, for model_max_length: the shards' (samples were cut there) or maxSeqLen (texts and ids
    // are cut or checked there); fine-tuning keeps a longer pretraining length, which the encoder has learnt.
    int trainedSeqLen = manifest != null ? manifest.maxSeqLen() : getMaxSeqLen();
    if (init.isEmpty() && ModelConfig.PRESETS.contains(value(modelConfig))
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
    float[] params = BarrierLauncher.run(dataset.sparkSession(), plan, data.stream(), stepHook);
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
    int global = value(globalBatchSize);
    long steps = (long) value(maxSteps) > 0 ? value(maxSteps)
        : (long) Math.ceil((double) value(maxEpochs) * data.epochSize() / global);
    long seedValue = value(seed);
    MlmMasking masking = null;
    if (trained == TrainingObjective.MLM) {
      int maskId = vocabulary.id("[MASK]");
      if (maskId < 0) {
        throw new IllegalArgumentException("vocabulary " + value(vocab) + " has no [MASK] token");
      }
      int[] special = TokenizerLoader.BERT_SPECIAL_TOKENS.stream().mapToInt(vocabulary::id).filter(id -> id >= 0)
          .toArray();
      masking = new MlmMasking(value(maskProbability), maskId, vocabulary.size(), special, seedValue);
    }
    TrainPlan training = new TrainPlan(trained.engineObjective(), config, new DecoupledAdamW.Hyper(value(lr),
        value(beta1), value(beta2), value(eps), value(weightDecay)),
        TrainPlan.Batching.of(global, value(microBatchSize), value(numWorkers), data.longestSample(),
            value(microBatchTokens)),
        LinearWithWarmup.ofFraction(value(warmupFraction), steps, value(alphaF)), masking,
        new TrainPlan.Checkpointing(value(checkpointEvery), value(metricsEvery)), seedValue);
    String init = LaunchPlan.resolveOnDriver(value(initModel), hadoopConf);
    InitialWeights initial = init.isEmpty() ? InitialWeights.fromSeed()
        : new InitModelWeights(init, HadoopConf.of(hadoopConf), training.heads());
    return new LaunchPlan(training, placement, getThreadsPerWorker(), value(ringTimeoutSeconds),
        LaunchPlan.resolveOnDriver(value(checkpointDir), hadoopConf), initial);
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
    String value = value(modelConfig);
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
