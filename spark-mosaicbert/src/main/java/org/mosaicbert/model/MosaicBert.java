package org.mosaicbert.model;

import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.LossSum;
import org.mosaicbert.backend.Precision;
import org.mosaicbert.backend.ScoringWeight;
import org.mosaicbert.backend.View;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.ActivationPlan.Tensor;
import org.mosaicbert.random.Hashing;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The MosaicBERT encoder with its heads, forward and backward written out by hand against a {@link Backend}, in the
 * manner of llm.c: one flat parameter buffer and one flat gradient buffer laid out by {@link ParameterLayout},
 * activations laid out by one table ({@link ActivationPlan}, logged when allocated), no autograd, no allocation per
 * step. Activations are sized for the micro-batches seen (their tokens, sequences, longest sequence and masked rows),
 * rebuilt larger when a larger one comes, up to the {@link Capacity}; parameters are allocated once.
 *
 * <p>What differs from BERT (docs/model.md §1): no position embeddings (ALiBi biases attention by −m_h·|i−j|),
 * attention per sequence over unpadded tokens, post-LN blocks with a GeGLU feed-forward (GELU on the first half,
 * dropout before {@code wo}), and an MLM head run only on the masked rows, its decoder tied to the word embeddings.
 * As upstream, the last layer runs its attention for every row (every key and value) and the rest of the layer only
 * on the rows its head reads: the masked rows (MLM) or each sequence's first row (classification).
 *
 * <p>Losses are sums; {@link #backward} divides by a divisor the caller chooses: the masked tokens (MLM) or
 * sequences (classification) of the whole global batch, so gradients do not depend on micro-batching or workers.
 */
public final class MosaicBert implements AutoCloseable {
  /** What the forward pass ends in. */
  public enum Objective { MLM, CLASSIFICATION, ENCODE }

  /**
   * The largest micro-batch the model takes (a larger one is refused): the cap its activations may grow to. The same
   * record gives the shape of a micro-batch the activations are sized for.
   */
  public record Capacity(int maxTokens, int maxSequences, int maxSeqLen, int maxMasked) {
    public Capacity {
      if (maxTokens < 1 || maxSequences < 1 || maxSeqLen < 1 || maxMasked < 0) {
        throw new IllegalArgumentException("capacity must be positive: " + this);
      }
    }

    /** The shape of {@code batch} (at least 1 in every count a capacity needs). */
    public static Capacity of(UnpaddedBatch batch) {
      return new Capacity(Math.max(1, batch.nnz()), Math.max(1, batch.numSequences()), Math.max(1, batch.maxSeqLen()),
          batch.maskedRows().length);
    }

    /** Whether a micro-batch of {@code shape} fits in this one. */
    public boolean holds(Capacity shape) {
      return shape.maxTokens <= maxTokens && shape.maxSequences <= maxSequences && shape.maxSeqLen <= maxSeqLen
          && shape.maxMasked <= maxMasked;
    }
  }

  /**
   * What the model is for: TRAINING keeps every layer's activations for the backward pass and has gradients;
   * INFERENCE (scoring) has no backward pass, so its layers share one buffer and it has no gradients.
   */
  public enum Mode { TRAINING, INFERENCE }

  /**
   * The randomness of a training step: dropout is keyed by (seed, optimizer step, sample, position), so a sample is
   * dropped out differently at each step it is seen; null means evaluation.
   */
  public record Randomness(long seed, long step) {}

  /**
   * A forward pass's loss: its sum over {@code count} scored rows and the rows scored right, read from the backend
   * when first asked for (see {@link LossSum}).
   */
  public record Loss(LossSum measured, long count) {
    public double sum() {
      return measured.sum();
    }

    public long correct() {
      return measured.correct();
    }
  }

  private static final Logger LOG = LoggerFactory.getLogger(MosaicBert.class);
  private static final long SITE_EMBEDDINGS = 1;
  private static final long SITE_CLASSIFIER = 2;
  private static final float MLM_HEAD_LN_EPS = 1e-12f; // hard-coded upstream, whatever the config says

  private final ModelConfig config;
  private final ParameterLayout layout;
  private final Backend backend;
  private final Capacity capacity;
  private final Mode mode;
  private final Buffer params;
  private final Buffer grads;
  private final float[] slopes;
  private boolean extrapolationLogged;
  private Precision precision = Precision.FP32;
  private boolean lastLayerOnHeadRows = true;
  // The rows the last forward pass ran its last layer on after attention (the head's rows), or null for every row;
  // the last layer's output then holds those rows alone, in this order.
  private int[] lastLayerRows;
  // The encoder's linear weights at a scoring precision other than FP32, per layer in the order of ENCODER_LINEARS;
  // made from the parameters at the first forward pass after they or the precision change.
  private ScoringWeight[][] scoringWeights;

  // The activations as allocated (null before the first forward pass) and the micro-batch shape they hold.
  private ActivationPlan.Activations activations;
  private Capacity allocated;
  private LayerViews[] layers;
  private long[] rowKeys;
  private long[] sequenceKeys;
  private long[] lastLayerRowKeys;

  // Activation views (named for what backward reads).
  private View embSum;
  private View embMean;
  private View embRstd;
  private View lastContextRows;
  private View hm;
  private View t1;
  private View t2;
  private View tMean;
  private View tRstd;
  private View t3;
  private View logits;
  private View mlmProbs;
  private View mlmLse;
  private View cls;
  private View pooledPre;
  private View pooled;
  private View pooledDrop;
  private View clsLogits;
  private View clsProbs;
  private View clsLse;
  // Gradient scratch (training only).
  private View dX;
  private View dA;
  private View dLn;
  private View dG;
  private View dM;
  private View dCtx;
  private View dQkv;
  private View dHead1;
  private View dHead2;

  /** Views of one layer's saved activations; xs[l] is its input, xs[l + 1] its output. */
  private record LayerViews(View qkv, View attentionState, View ctx, View ln1In, View ln1Mean, View ln1Rstd, View a,
      View g, View m, View ln2In, View ln2Mean, View ln2Rstd) {}

  private View[] xs;

  // The batch of the last forward pass, for backward.
  private UnpaddedBatch batch;
  private Objective objective;
  private Randomness randomness;
  private float[] regressionPredictions;

  /** A model for training (gradients, every layer's activations kept). */
  public MosaicBert(ModelConfig config, ParameterLayout.Heads heads, Backend backend, Capacity capacity) {
    this(config, heads, backend, capacity, Mode.TRAINING);
  }

  /**
   * Allocates the parameters (and for training the gradients) on {@code backend}; activations come with the first
   * forward pass, sized for it.
   */
  public MosaicBert(ModelConfig config, ParameterLayout.Heads heads, Backend backend, Capacity capacity, Mode mode) {
    this.config = config;
    this.layout = new ParameterLayout(config, heads);
    this.backend = backend;
    this.capacity = capacity;
    this.mode = mode;
    this.slopes = AlibiSlopes.of(config.numHeads());
    this.params = backend.allocate(BufferKind.PARAMETERS, layout.size(), "parameters");
    this.grads = mode == Mode.TRAINING ? backend.allocate(BufferKind.GRADIENTS, layout.size(), "gradients") : null;
    // The capacity is a bound (for scoring, what the memory left holds); what is allocated, for the micro-batches at
    // hand, is logged when it is.
    LOG.info("MosaicBert on {} ({}) for micro-batches of up to {} tokens, {} sequences of at most {}, {} masked; "
        + "activations are allocated for the micro-batches as they come", backend.getClass().getSimpleName(), mode,
        capacity.maxTokens(), capacity.maxSequences(), capacity.maxSeqLen(), capacity.maxMasked());
    if (LOG.isDebugEnabled()) {
      LOG.debug("MosaicBert activations at full capacity: {}", ActivationPlan.of(config, capacity, backend, mode)
          .describe());
    }
  }

  /**
   * Bytes of activations a model of {@code config} on {@code backend} in {@code mode} allocates for micro-batches of
   * {@code shape}: what a caller weighs against its memory before choosing micro-batches.
   */
  public static long activationBytes(ModelConfig config, Backend backend, Capacity shape, Mode mode) {
    return 4 * ActivationPlan.of(config, shape, backend, mode).totalFloats();
  }

  /**
   * The most tokens a micro-batch (of at most {@code maxSequences} sequences, {@code maskedShare} of its tokens
   * masked) may hold for its activations to fit in {@code bytes}, every buffer within 2^31 floats; 0 when not even one
   * token fits. Activations grow linearly with the tokens whatever the sequences' lengths, so this bounds any
   * micro-batch: what a caller cuts its batches by.
   */
  public static int tokensWithin(ModelConfig config, Backend backend, Mode mode, int maxSequences, double maskedShare,
      long bytes) {
    int lo = 0;
    int hi = Integer.MAX_VALUE / 2;
    while (lo < hi) {
      int mid = (int) (((long) lo + hi + 1) / 2);
      Capacity shape = new Capacity(mid, Math.min(maxSequences, mid), mid, (int) Math.ceil(maskedShare * mid));
      ActivationPlan plan = ActivationPlan.of(config, shape, backend, mode);
      if (4 * plan.totalFloats() <= bytes && plan.largestBufferFloats() <= Integer.MAX_VALUE) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  /**
   * Makes the activations hold {@code needed}: kept when they do, else given back and allocated for the larger of
   * the two in every count, with a quarter more tokens and sequences than asked so that slowly growing micro-batches
   * do not rebuild them each time, never past the capacity.
   */
  private void ensureActivations(Capacity needed) {
    if (allocated != null && allocated.holds(needed)) {
      return;
    }
    Capacity grown = needed;
    if (allocated != null) {
      grown = new Capacity(
          Math.min(capacity.maxTokens(), Math.max(needed.maxTokens(), allocated.maxTokens() + allocated.maxTokens() / 4)),
          Math.min(capacity.maxSequences(), Math.max(needed.maxSequences(),
              allocated.maxSequences() + allocated.maxSequences() / 4)),
          Math.max(needed.maxSeqLen(), allocated.maxSeqLen()), Math.min(capacity.maxMasked(),
              Math.max(needed.maxMasked(), allocated.maxMasked() + allocated.maxMasked() / 4)));
      activations.free(backend);
      activations = null;
      allocated = null;
    }
    ActivationPlan plan = ActivationPlan.of(config, grown, backend, mode);
    try {
      activations = plan.allocate(backend);
    } catch (OutOfMemoryError e) {
      // JavaCPP's off-heap limit, not the heap: a clear error instead of one that takes the executor down.
      throw new ActivationMemoryException(String.format(java.util.Locale.ROOT, "the activations of a micro-batch of "
          + "%d tokens in %d sequences (longest %d) need %.0f MiB of off-heap memory, more than is left (%s); use "
          + "shorter or fewer sequences per micro-batch, or give the JVM more memory (-Xmx, which also bounds "
          + "off-heap memory unless -Dorg.bytedeco.javacpp.maxBytes says otherwise)", grown.maxTokens(),
          grown.maxSequences(), grown.maxSeqLen(), plan.totalFloats() * 4.0 / (1 << 20), e.getMessage()), e);
    }
    allocated = grown;
    LOG.info("MosaicBert activations for {} tokens, {} sequences of at most {}, {} masked: {}", grown.maxTokens(),
        grown.maxSequences(), grown.maxSeqLen(), grown.maxMasked(), plan.describe());
    bind(activations);
    rowKeys = new long[grown.maxTokens()];
    sequenceKeys = new long[grown.maxSequences()];
    lastLayerRowKeys = new long[Math.max(grown.maxMasked(), grown.maxSequences())];
  }

  /** Takes the views of every tensor the passes use. */
  private void bind(ActivationPlan.Activations acts) {
    embSum = acts.view(Tensor.EMBEDDINGS_SUM);
    embMean = acts.view(Tensor.EMBEDDINGS_LN_MEAN);
    embRstd = acts.view(Tensor.EMBEDDINGS_LN_RSTD);
    xs = new View[config.numLayers() + 1];
    xs[0] = acts.view(Tensor.EMBEDDINGS_OUT);
    lastContextRows = acts.view(Tensor.LAST_LAYER_CONTEXT_ROWS);
    hm = acts.view(Tensor.MLM_MASKED_ROWS);
    t1 = acts.view(Tensor.MLM_DENSE);
    t2 = acts.view(Tensor.MLM_GELU);
    tMean = acts.view(Tensor.MLM_LN_MEAN);
    tRstd = acts.view(Tensor.MLM_LN_RSTD);
    t3 = acts.view(Tensor.MLM_TRANSFORMED);
    logits = acts.view(Tensor.MLM_LOGITS);
    mlmProbs = acts.view(Tensor.MLM_PROBS);
    mlmLse = acts.view(Tensor.MLM_LSE);
    cls = acts.view(Tensor.CLS_ROWS);
    pooledPre = acts.view(Tensor.POOLER_DENSE);
    pooled = acts.view(Tensor.POOLED);
    pooledDrop = acts.view(Tensor.POOLED_DROPOUT);
    clsLogits = acts.view(Tensor.CLASSIFIER_LOGITS);
    clsProbs = acts.view(Tensor.CLASSIFIER_PROBS);
    clsLse = acts.view(Tensor.CLASSIFIER_LSE);
    layers = new LayerViews[config.numLayers()];
    for (int l = 0; l < config.numLayers(); l++) {
      layers[l] = new LayerViews(acts.view(Tensor.QKV, l), acts.view(Tensor.ATTENTION_STATE, l),
          acts.view(Tensor.CONTEXT, l), acts.view(Tensor.LN1_IN, l), acts.view(Tensor.LN1_MEAN, l),
          acts.view(Tensor.LN1_RSTD, l), acts.view(Tensor.ATTENTION_OUT, l), acts.view(Tensor.GATED, l),
          acts.view(Tensor.GEGLU, l), acts.view(Tensor.LN2_IN, l), acts.view(Tensor.LN2_MEAN, l),
          acts.view(Tensor.LN2_RSTD, l));
      xs[l + 1] = acts.view(Tensor.LAYER_OUT, l);
    }
    dX = acts.view(Tensor.D_X);
    dA = acts.view(Tensor.D_A);
    dLn = acts.view(Tensor.D_LN);
    dCtx = acts.view(Tensor.D_CONTEXT);
    dG = acts.view(Tensor.D_GATED);
    dM = acts.view(Tensor.D_GEGLU);
    dQkv = acts.view(Tensor.D_QKV);
    // The heads' backward passes run before the encoder's and reuse two of its scratch tensors.
    dHead1 = dA;
    dHead2 = dCtx;
  }

  public ModelConfig config() {
    return config;
  }

  public ParameterLayout layout() {
    return layout;
  }

  public Backend backend() {
    return backend;
  }

  public Buffer parameters() {
    return params;
  }

  /** The flat gradient buffer (training only). */
  public Buffer gradients() {
    requireTraining("gradients");
    return grads;
  }

  private void requireTraining(String what) {
    if (mode != Mode.TRAINING) {
      throw new IllegalStateException("this MosaicBert is for inference: it has no " + what + "; build it with "
          + "Mode.TRAINING to train");
    }
  }

  public Capacity capacity() {
    return capacity;
  }

  private View param(String name) {
    return params.at(layout.offset(name));
  }

  private View grad(String name) {
    return grads.at(layout.offset(name));
  }

  private static String layerName(int l, String suffix) {
    return "bert.encoder.layer." + l + "." + suffix;
  }

  public void zeroGradients() {
    requireTraining("gradients");
    backend.zero(grads.at(0), layout.size());
  }

  /** Runs the encoder and the objective's head on a micro-batch; keeps what backward needs. */
  public Loss forward(UnpaddedBatch batch, Objective objective, Randomness randomness) {
    Capacity shape = Capacity.of(batch);
    checkCapacity(batch, shape, objective);
    checkIds(batch);
    ensureActivations(shape);
    prepareScoringWeights();
    logExtrapolation(batch.maxSeqLen());
    this.batch = batch;
    this.objective = objective;
    this.randomness = randomness;
    int n = batch.nnz();
    int h = config.hiddenSize();
    int inter = config.intermediateSize();
    boolean train = randomness != null;
    float pHidden = train ? (float) config.hiddenDropout() : 0f;
    if (train) {
      for (int b = 0; b < batch.numSequences(); b++) {
        for (int r = batch.cuSeqlens()[b]; r < batch.cuSeqlens()[b + 1]; r++) {
          rowKeys[r] = Hashing.key(randomness.seed(), randomness.step(), batch.sampleIds()[b], batch.positions()[r]);
        }
        sequenceKeys[b] = Hashing.key(randomness.seed(), randomness.step(), batch.sampleIds()[b], -1);
      }
    }

    // Embeddings: word + token type, LayerNorm, dropout.
    backend.embedding(embSum, batch.inputIds(), batch.tokenTypeIds(), param("bert.embeddings.word_embeddings.weight"),
        param("bert.embeddings.token_type_embeddings.weight"), n, h);
    backend.layerNorm(xs[0], embMean, embRstd, embSum, param("bert.embeddings.LayerNorm.weight"),
        param("bert.embeddings.LayerNorm.bias"), n, h, (float) config.layerNormEps());
    backend.dropout(xs[0], n, h, pHidden, rowKeys, SITE_EMBEDDINGS);

    lastLayerRows = !lastLayerOnHeadRows ? null : switch (objective) {
      case MLM -> batch.maskedRows();
      case CLASSIFICATION -> batch.firstRows();
      case ENCODE -> null;
    };
    if (lastLayerRows != null && train) {
      for (int i = 0; i < lastLayerRows.length; i++) {
        lastLayerRowKeys[i] = rowKeys[lastLayerRows[i]]; // a row keeps its dropout masks wherever it sits
      }
    }
    for (int l = 0; l < config.numLayers(); l++) {
      LayerViews a = layers[l];
      View x = xs[l];
      encoderLinear(l, 0, a.qkv(), x, n);
      backend.attention(a.ctx(), a.attentionState(), a.qkv(), batch.cuSeqlens(), batch.numSequences(),
          config.numHeads(), config.headDim(), slopes);
      View ctx = a.ctx();
      int rows = n;
      long[] keys = rowKeys;
      if (onHeadRows(l)) {
        // From here on, the head's rows alone: their attention has read every key and value already. ln2In (n rows
        // of H) holds their input until the layer writes ln2In, after reading it.
        rows = lastLayerRows.length;
        keys = lastLayerRowKeys;
        ctx = lastContextRows;
        backend.gatherRows(ctx, a.ctx(), lastLayerRows, h);
        backend.gatherRows(a.ln2In(), x, lastLayerRows, h);
        x = a.ln2In();
      }
      // Post-LN attention output: LN(x + dropout(dense(ctx))).
      encoderLinear(l, 1, a.ln1In(), ctx, rows);
      backend.dropoutResidualLayerNorm(a.a(), a.ln1Mean(), a.ln1Rstd(), a.ln1In(), x,
          param(layerName(l, "attention.output.LayerNorm.weight")),
          param(layerName(l, "attention.output.LayerNorm.bias")), rows, h, (float) config.layerNormEps(), pHidden,
          keys, siteAttention(l));
      // GeGLU: LN(a + wo(dropout(GELU(gate) ⊙ lin))).
      encoderLinear(l, 2, a.g(), a.a(), rows);
      backend.geglu(a.m(), a.g(), rows, inter);
      backend.dropout(a.m(), rows, inter, pHidden, keys, siteMlp(l));
      encoderLinear(l, 3, a.ln2In(), a.m(), rows);
      // No dropout here: the MLP's is on m, before wo.
      backend.dropoutResidualLayerNorm(xs[l + 1], a.ln2Mean(), a.ln2Rstd(), a.ln2In(), a.a(),
          param(layerName(l, "mlp.layernorm.weight")), param(layerName(l, "mlp.layernorm.bias")), rows, h,
          (float) config.layerNormEps(), 0f, keys, siteMlp(l));
    }
    return switch (objective) {
      case MLM -> mlmForward();
      case CLASSIFICATION -> classifierForward(train);
      case ENCODE -> new Loss(LossSum.of(0, 0), 0);
    };
  }

  /** Whether layer l runs, after its attention, on the head's rows alone (see {@link #setLastLayerOnHeadRows}). */
  private boolean onHeadRows(int l) {
    return lastLayerRows != null && l == config.numLayers() - 1;
  }

  /** An encoder layer's linear layers, in the order of its forward pass: weight and bias (or null) names. */
  private record EncoderLinear(String weight, String bias) {}

  private static final EncoderLinear[] ENCODER_LINEARS = {
      new EncoderLinear("attention.self.Wqkv.weight", "attention.self.Wqkv.bias"),
      new EncoderLinear("attention.output.dense.weight", "attention.output.dense.bias"),
      new EncoderLinear("mlp.gated_layers.weight", null),
      new EncoderLinear("mlp.wo.weight", "mlp.wo.bias")};

  /** Layer l's linear layer {@code which} (of ENCODER_LINEARS) over {@code rows} rows, at the model's precision. */
  private void encoderLinear(int l, int which, View out, View inp, int rows) {
    EncoderLinear lin = ENCODER_LINEARS[which];
    ParameterLayout.Tensor weight = layout.get(layerName(l, lin.weight()));
    int outDim = weight.shape()[0];
    int in = weight.shape()[1];
    View bias = lin.bias() == null ? null : param(layerName(l, lin.bias()));
    if (precision == Precision.FP32) {
      backend.linear(out, inp, params.at(weight.offset()), bias, rows, in, outDim);
    } else {
      backend.linear(out, inp, scoringWeights[l][which], bias, rows);
    }
  }

  /**
   * Scores from here on with the encoder's linear layers at {@code precision} (an inference model only: training is
   * float32). Their weights are converted at the next forward pass, and again after parameters change.
   */
  public void setPrecision(Precision precision) {
    if (precision != Precision.FP32 && mode != Mode.INFERENCE) {
      throw new IllegalStateException("precision " + precision.value() + " is for scoring: training runs in fp32");
    }
    this.precision = precision;
    scoringWeights = null;
  }

  public Precision precision() {
    return precision;
  }

  /**
   * Whether a pass with a head (Objective.MLM or CLASSIFICATION) runs the last layer, after its attention for every
   * row (every key and value), only on the rows the head reads: the masked rows or each sequence's first row ([CLS]).
   * On by default: the losses, outputs and gradients are those of the whole pass up to float32 rounding (the linear
   * layers' kernels sum in another order for another number of rows), at a fraction of the last layer's cost. Off,
   * a pass also keeps the hidden states of every row ({@link #lastHiddenState}); Objective.ENCODE always does.
   */
  public void setLastLayerOnHeadRows(boolean headRowsOnly) {
    this.lastLayerOnHeadRows = headRowsOnly;
  }

  private void prepareScoringWeights() {
    if (precision == Precision.FP32 || scoringWeights != null) {
      return;
    }
    scoringWeights = new ScoringWeight[config.numLayers()][ENCODER_LINEARS.length];
    for (int l = 0; l < config.numLayers(); l++) {
      for (int which = 0; which < ENCODER_LINEARS.length; which++) {
        ParameterLayout.Tensor weight = layout.get(layerName(l, ENCODER_LINEARS[which].weight()));
        scoringWeights[l][which] = backend.scoringWeight(params.at(weight.offset()), weight.shape()[1],
            weight.shape()[0], precision);
      }
    }
  }

  /**
   * Says once per model that sequences run past alibi_starting_size: that works (ALiBi's biases extend to any
   * distance; upstream rebuilds its table larger), but the model has not seen such distances unless trained on them.
   */
  private void logExtrapolation(int longest) {
    if (longest > config.alibiStartingSize() && !extrapolationLogged) {
      extrapolationLogged = true;
      LOG.info("sequences of up to {} tokens, past the model's alibi_starting_size of {}: ALiBi extrapolates to "
          + "them (the model was configured, and usually trained, for at most {})", longest,
          config.alibiStartingSize(), config.alibiStartingSize());
    }
  }

  private static long siteAttention(int layer) {
    return 16 + 2L * layer;
  }

  private static long siteMlp(int layer) {
    return 17 + 2L * layer;
  }

  private void checkCapacity(UnpaddedBatch batch, Capacity shape, Objective objective) {
    if (!capacity.holds(shape)) {
      throw new IllegalArgumentException("micro-batch of " + batch.nnz() + " tokens, " + batch.numSequences()
          + " sequences (longest " + batch.maxSeqLen() + "), " + batch.maskedRows().length + " masked rows exceeds "
          + "the model's capacity " + capacity + "; lower the micro-batch size or build the model with a larger one");
    }
    if (objective == Objective.MLM && !layout.has("cls.predictions.decoder.bias")) {
      throw new IllegalStateException("this model has no MLM head");
    }
    if (objective == Objective.CLASSIFICATION && !layout.has("classifier.weight")) {
      throw new IllegalStateException("this model has no classification head");
    }
    if (objective == Objective.CLASSIFICATION && batch.classLabels() == null) {
      throw new IllegalArgumentException("a classification batch needs labels");
    }
  }

  /**
   * Every id a batch brings must index a row of its table: an id past the word embeddings would read other parameters
   * from the flat buffer as an embedding, silently. One pass over the ids, whatever made them (a tokenizer with a
   * longer vocabulary than the model's, a token-id column, a caller of this API).
   */
  private void checkIds(UnpaddedBatch batch) {
    int[] ids = batch.inputIds();
    int[] types = batch.tokenTypeIds();
    int[] cu = batch.cuSeqlens();
    for (int b = 0; b + 1 < cu.length; b++) {
      for (int r = cu[b]; r < cu[b + 1]; r++) {
        if (ids[r] < 0 || ids[r] >= config.vocabSize()) {
          throw idOutside("token id " + ids[r], r - cu[b], b, batch, config.vocabSize(), "vocab_size");
        }
        if (types[r] < 0 || types[r] >= config.typeVocabSize()) {
          throw idOutside("token type id " + types[r], r - cu[b], b, batch, config.typeVocabSize(), "type_vocab_size");
        }
      }
    }
    int[] labels = batch.mlmLabels();
    for (int i = 0; i < labels.length; i++) {
      if (labels[i] < 0 || labels[i] >= config.vocabSize()) {
        int row = batch.maskedRows()[i];
        int b = sequenceOf(cu, row);
        throw idOutside("MLM label " + labels[i], row - cu[b], b, batch, config.vocabSize(), "vocab_size");
      }
    }
  }

  private static int sequenceOf(int[] cuSeqlens, int row) {
    int b = 0;
    while (b + 2 < cuSeqlens.length && cuSeqlens[b + 1] <= row) {
      b++;
    }
    return b;
  }

  private static IllegalArgumentException idOutside(String what, int position, int sequence, UnpaddedBatch batch,
      int tableSize, String key) {
    return new IllegalArgumentException(what + " at position " + position + " of sequence " + sequence
        + " (sample id " + batch.sampleIds()[sequence] + ") is outside the model's table of " + tableSize + " rows ("
        + key + "): ids must come from the model's own vocabulary");
  }

  private View last() {
    return xs[config.numLayers()];
  }

  /**
   * The head's input: the last layer's output at the head's rows, in their order. That output itself when the last
   * layer ran on those rows alone, else {@code gathered} (hm or cls, gathered by the head's forward pass).
   */
  private View headInput(View gathered) {
    return lastLayerRows != null ? last() : gathered;
  }

  private Loss mlmForward() {
    int m = batch.maskedRows().length;
    int h = config.hiddenSize();
    if (lastLayerRows == null) {
      backend.gatherRows(hm, last(), batch.maskedRows(), h);
    }
    backend.linear(t1, headInput(hm), param("cls.predictions.transform.dense.weight"),
        param("cls.predictions.transform.dense.bias"), m, h, h);
    backend.gelu(t2, t1, (long) m * h);
    backend.layerNorm(t3, tMean, tRstd, t2, param("cls.predictions.transform.LayerNorm.weight"),
        param("cls.predictions.transform.LayerNorm.bias"), m, h, MLM_HEAD_LN_EPS);
    backend.linear(logits, t3, param("bert.embeddings.word_embeddings.weight"), param("cls.predictions.decoder.bias"),
        m, h, config.vocabSize());
    LossSum sum = backend.crossEntropy(mlmProbs, mlmLse, logits, batch.mlmLabels(), m, config.vocabSize());
    return new Loss(sum, m);
  }

  private Loss classifierForward(boolean train) {
    int b = batch.numSequences();
    int h = config.hiddenSize();
    int c = config.numLabels();
    if (lastLayerRows == null) {
      backend.gatherRows(cls, last(), batch.firstRows(), h);
    }
    backend.linear(pooledPre, headInput(cls), param("bert.pooler.dense.weight"), param("bert.pooler.dense.bias"), b,
        h, h);
    backend.tanh(pooled, pooledPre, (long) b * h);
    backend.copy(pooledDrop, pooled, (long) b * h);
    backend.dropout(pooledDrop, b, h, train ? (float) config.effectiveClassifierDropout() : 0f, sequenceKeys,
        SITE_CLASSIFIER);
    backend.linear(clsLogits, pooledDrop, param("classifier.weight"), param("classifier.bias"), b, h, c);
    if (config.isRegression()) {
      regressionPredictions = new float[b];
      backend.download(regressionPredictions, 0, clsLogits, b);
      double sum = 0;
      for (int i = 0; i < b; i++) {
        double d = regressionPredictions[i] - batch.classLabels()[i];
        sum += d * d;
      }
      return new Loss(LossSum.of(sum, 0), b);
    }
    LossSum sum = backend.crossEntropy(clsProbs, clsLse, clsLogits, classIndices(), b, c);
    return new Loss(sum, b);
  }

  private int[] classIndices() {
    float[] labels = batch.classLabels();
    int[] out = new int[labels.length];
    for (int i = 0; i < labels.length; i++) {
      out[i] = (int) labels[i];
      if (out[i] != labels[i] || out[i] < 0 || out[i] >= config.numLabels()) {
        throw new IllegalArgumentException("class label " + labels[i] + " of sequence " + i + " is not in 0.."
            + (config.numLabels() - 1));
      }
    }
    return out;
  }

  /**
   * Adds the gradients of (last forward's loss sum) / {@code divisor} to the gradient buffer. The divisor is the
   * number of masked tokens (MLM) or sequences (classification) of the whole global batch.
   */
  public void backward(double divisor) {
    requireTraining("backward pass");
    if (batch == null || objective == Objective.ENCODE) {
      throw new IllegalStateException("backward needs a forward pass with a loss first");
    }
    int n = batch.nnz();
    int h = config.hiddenSize();
    int inter = config.intermediateSize();
    float scale = (float) (1.0 / divisor);
    float pHidden = randomness != null ? (float) config.hiddenDropout() : 0f;
    if (objective == Objective.MLM) {
      mlmBackward(scale);
    } else {
      classifierBackward(scale);
    }
    for (int l = config.numLayers() - 1; l >= 0; l--) {
      LayerViews a = layers[l];
      boolean headRows = onHeadRows(l);
      int rows = headRows ? lastLayerRows.length : n;
      long[] keys = headRows ? lastLayerRowKeys : rowKeys;
      // dX holds d(output of layer l), of the head's rows alone where the layer ran on them alone.
      // dA: the residual around the MLP; dLn: into wo.
      backend.dropoutResidualLayerNormBackward(dA, dLn, grad(layerName(l, "mlp.layernorm.weight")),
          grad(layerName(l, "mlp.layernorm.bias")), dX, a.ln2In(), param(layerName(l, "mlp.layernorm.weight")),
          a.ln2Mean(), a.ln2Rstd(), rows, h, 0f, keys, siteMlp(l));
      backend.linearBackward(dM, false, grad(layerName(l, "mlp.wo.weight")), grad(layerName(l, "mlp.wo.bias")), dLn,
          a.m(), param(layerName(l, "mlp.wo.weight")), rows, inter, h);
      backend.dropout(dM, rows, inter, pHidden, keys, siteMlp(l));
      backend.gegluBackward(dG, dM, a.g(), rows, inter);
      backend.linearBackward(dA, true, grad(layerName(l, "mlp.gated_layers.weight")), null, dG, a.a(),
          param(layerName(l, "mlp.gated_layers.weight")), rows, h, 2 * inter);
      // The residual around attention (dX) and the gradient into the attention output's dropout and dense layer
      // (dLn), then the context's (dCtx). Of the head's rows alone, these two land in dQkv (3 x n rows of H, free
      // until attention's backward pass writes it) and are spread to every row: attention's backward pass takes
      // every row, which the head's rows' keys and values came from.
      View dResidual = headRows ? dQkv : dX;
      View dContext = headRows ? dQkv.at((long) n * h) : dCtx;
      backend.dropoutResidualLayerNormBackward(dResidual, dLn,
          grad(layerName(l, "attention.output.LayerNorm.weight")),
          grad(layerName(l, "attention.output.LayerNorm.bias")), dA, a.ln1In(),
          param(layerName(l, "attention.output.LayerNorm.weight")), a.ln1Mean(), a.ln1Rstd(), rows, h, pHidden,
          keys, siteAttention(l));
      backend.linearBackward(dContext, false, grad(layerName(l, "attention.output.dense.weight")),
          grad(layerName(l, "attention.output.dense.bias")), dLn, headRows ? lastContextRows : a.ctx(),
          param(layerName(l, "attention.output.dense.weight")), rows, h, h);
      if (headRows) {
        spreadRows(dX, dResidual, lastLayerRows, n);
        spreadRows(dCtx, dContext, lastLayerRows, n);
      }
      backend.attentionBackward(dQkv, dCtx, a.ctx(), a.attentionState(), a.qkv(), batch.cuSeqlens(),
          batch.numSequences(), config.numHeads(), config.headDim(), slopes);
      backend.linearBackward(dX, true, grad(layerName(l, "attention.self.Wqkv.weight")),
          grad(layerName(l, "attention.self.Wqkv.bias")), dQkv, xs[l], param(layerName(l, "attention.self.Wqkv.weight")),
          n, h, 3 * h);
    }
    backend.dropout(dX, n, h, pHidden, rowKeys, SITE_EMBEDDINGS);
    backend.layerNormBackward(dLn, grad("bert.embeddings.LayerNorm.weight"), grad("bert.embeddings.LayerNorm.bias"),
        dX, embSum, param("bert.embeddings.LayerNorm.weight"), embMean, embRstd, n, h);
    backend.embeddingBackward(grad("bert.embeddings.word_embeddings.weight"),
        grad("bert.embeddings.token_type_embeddings.weight"), dLn, batch.inputIds(), batch.tokenTypeIds(), n, h,
        config.padTokenId());
  }

  private void mlmBackward(float scale) {
    int m = batch.maskedRows().length;
    int h = config.hiddenSize();
    backend.crossEntropyBackward(mlmProbs, mlmProbs, mlmLse, logits, batch.mlmLabels(), m, config.vocabSize(),
        scale);
    // The decoder is tied: its weight gradient lands on the word embeddings.
    backend.linearBackward(dHead1, false, grad("bert.embeddings.word_embeddings.weight"),
        grad("cls.predictions.decoder.bias"), mlmProbs, t3, param("bert.embeddings.word_embeddings.weight"), m, h,
        config.vocabSize());
    backend.layerNormBackward(dHead2, grad("cls.predictions.transform.LayerNorm.weight"),
        grad("cls.predictions.transform.LayerNorm.bias"), dHead1, t2,
        param("cls.predictions.transform.LayerNorm.weight"), tMean, tRstd, m, h);
    backend.geluBackward(dHead1, dHead2, t1, (long) m * h);
    backend.linearBackward(dHead2, false, grad("cls.predictions.transform.dense.weight"),
        grad("cls.predictions.transform.dense.bias"), dHead1, headInput(hm),
        param("cls.predictions.transform.dense.weight"), m, h, h);
    toLastLayer(dHead2, batch.maskedRows());
  }

  private void classifierBackward(float scale) {
    int b = batch.numSequences();
    int h = config.hiddenSize();
    int c = config.numLabels();
    if (config.isRegression()) {
      float[] d = new float[b];
      for (int i = 0; i < b; i++) {
        d[i] = 2f * (regressionPredictions[i] - batch.classLabels()[i]) * scale;
      }
      backend.upload(clsProbs, d, 0, b);
    } else {
      backend.crossEntropyBackward(clsProbs, clsProbs, clsLse, clsLogits, classIndices(), b, c, scale);
    }
    backend.linearBackward(dHead1, false, grad("classifier.weight"), grad("classifier.bias"), clsProbs, pooledDrop,
        param("classifier.weight"), b, h, c);
    backend.dropout(dHead1, b, h, randomness != null ? (float) config.effectiveClassifierDropout() : 0f, sequenceKeys,
        SITE_CLASSIFIER);
    backend.tanhBackward(dHead2, dHead1, pooled, (long) b * h);
    backend.linearBackward(dHead1, false, grad("bert.pooler.dense.weight"), grad("bert.pooler.dense.bias"), dHead2,
        headInput(cls), param("bert.pooler.dense.weight"), b, h, h);
    toLastLayer(dHead1, batch.firstRows());
  }

  /**
   * Puts the gradient of the head's input, of its {@code rows}, in dX as the last layer's backward pass takes it:
   * as it is where the last layer ran on those rows alone, else spread to every row.
   */
  private void toLastLayer(View dHead, int[] rows) {
    if (lastLayerRows != null) {
      backend.copy(dX, dHead, (long) rows.length * config.hiddenSize());
    } else {
      spreadRows(dX, dHead, rows, batch.nnz());
    }
  }

  /** out[n, H] ← zero but at {@code rows}, where out[rows[i]] = inp[i]. */
  private void spreadRows(View out, View inp, int[] rows, int n) {
    backend.zero(out, (long) n * config.hiddenSize());
    backend.scatterAddRows(out, inp, rows, config.hiddenSize());
  }

  /** The encoder output of the last forward pass, [nnz, H]. */
  public float[] lastHiddenState() {
    if (lastLayerRows != null) {
      throw new IllegalStateException("the last forward pass ran the last layer on the rows its head reads alone "
          + "(setLastLayerOnHeadRows): it has no hidden states for the other rows; run Objective.ENCODE for them");
    }
    float[] out = new float[batch.nnz() * config.hiddenSize()];
    backend.download(out, 0, last(), out.length);
    return out;
  }

  /** MLM logits [masked rows, V] of the last forward pass. */
  public float[] mlmLogits() {
    float[] out = new float[batch.maskedRows().length * config.vocabSize()];
    backend.download(out, 0, logits, out.length);
    return out;
  }

  /** Pooled output [B, H] of the last classification forward pass. */
  public float[] pooledOutput() {
    float[] out = new float[batch.numSequences() * config.hiddenSize()];
    backend.download(out, 0, pooled, out.length);
    return out;
  }

  /** Classifier logits [B, C] of the last forward pass (the predictions of a regression head). */
  public float[] classifierLogits() {
    float[] out = new float[batch.numSequences() * config.numLabels()];
    backend.download(out, 0, clsLogits, out.length);
    return out;
  }

  /** Sets every parameter from flat values in the layout's order (as {@code ModelWeights} makes them). */
  public void setAllParameters(float[] values) {
    if (values.length != layout.size()) {
      throw new IllegalArgumentException(values.length + " parameter values for a model of " + layout.size());
    }
    backend.upload(params.at(0), values, 0, values.length);
    scoringWeights = null;
  }

  /** A parameter tensor's values. */
  public float[] parameter(String name) {
    ParameterLayout.Tensor t = layout.get(name);
    float[] out = new float[(int) t.size()];
    backend.download(out, 0, params.at(t.offset()), out.length);
    return out;
  }

  public void setParameter(String name, float[] values) {
    ParameterLayout.Tensor t = layout.get(name);
    if (values.length != t.size()) {
      throw new IllegalArgumentException("parameter " + name + " " + t.shapeString() + " takes " + t.size()
          + " values, got " + values.length);
    }
    backend.upload(params.at(t.offset()), values, 0, values.length);
    scoringWeights = null;
  }

  public float[] gradient(String name) {
    requireTraining("gradients");
    ParameterLayout.Tensor t = layout.get(name);
    float[] out = new float[(int) t.size()];
    backend.download(out, 0, grads.at(t.offset()), out.length);
    return out;
  }

  @Override
  public void close() {
    backend.close();
  }
}
