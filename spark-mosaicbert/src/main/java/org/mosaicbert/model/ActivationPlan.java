package org.mosaicbert.model;

import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToLongFunction;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.View;
import org.mosaicbert.config.ModelConfig;

/**
 * MosaicBert's activation memory as one table ({@link Tensor}): every tensor the forward pass keeps for the backward
 * pass and every gradient scratch, with its size for a micro-batch's shape (a {@link MosaicBert.Capacity}) and the
 * buffer it lives in. The same table sizes the buffers and carves them, so the two cannot disagree. The attention
 * state is what the backend says it keeps ({@link Backend#attentionStateFloats}); no backend keeps P, so every tensor
 * grows linearly with the tokens and the plan with a sequence's length.
 *
 * <p>One buffer holds the embeddings and the heads, one each layer, one the gradient scratch: each stays far below a
 * buffer's 2^31-float limit. For {@link MosaicBert.Mode#INFERENCE} (no backward pass) the layers share one buffer,
 * each overwriting the one before, and there is no gradient scratch.
 */
final class ActivationPlan {
  /**
   * Every tensor starts on a multiple of 8 floats (32 bytes): the CUDA kernels move 16 bytes at a time and need every
   * tensor 16-byte aligned.
   */
  static final long ALIGN = 8;

  /** The buffers the tensors are carved from; a layer's buffer repeats for each layer. */
  enum Region {
    EMBEDDINGS_AND_HEADS("embeddings and heads"),
    LAYER("layer"),
    GRADIENT_SCRATCH("gradient scratch");

    final String label;

    Region(String label) {
      this.label = label;
    }
  }

  /** What the sizes are functions of: the capacity, the config and the backend's attention state per layer. */
  record Dims(long tokens, long sequences, long masked, long hidden, long intermediate, long vocab, long labels,
      long attentionState) {
    /** Rows of the gradient scratch: whichever of tokens, sequences or masked rows a backward step walks. */
    long scratchRows() {
      return Math.max(tokens, Math.max(sequences, masked));
    }

    /** The most rows a head reads: masked rows (MLM) or sequences (classification). */
    long headRows() {
      return Math.max(sequences, masked);
    }
  }

  /** The table, in carving order within each region; names say what backward reads them for. */
  enum Tensor {
    EMBEDDINGS_SUM(Region.EMBEDDINGS_AND_HEADS, d -> d.tokens() * d.hidden()),
    EMBEDDINGS_LN_MEAN(Region.EMBEDDINGS_AND_HEADS, Dims::tokens),
    EMBEDDINGS_LN_RSTD(Region.EMBEDDINGS_AND_HEADS, Dims::tokens),
    EMBEDDINGS_OUT(Region.EMBEDDINGS_AND_HEADS, d -> d.tokens() * d.hidden()),
    LAST_LAYER_CONTEXT_ROWS(Region.EMBEDDINGS_AND_HEADS, d -> d.headRows() * d.hidden()),
    MLM_MASKED_ROWS(Region.EMBEDDINGS_AND_HEADS, d -> d.masked() * d.hidden()),
    MLM_DENSE(Region.EMBEDDINGS_AND_HEADS, d -> d.masked() * d.hidden()),
    MLM_GELU(Region.EMBEDDINGS_AND_HEADS, d -> d.masked() * d.hidden()),
    MLM_LN_MEAN(Region.EMBEDDINGS_AND_HEADS, Dims::masked),
    MLM_LN_RSTD(Region.EMBEDDINGS_AND_HEADS, Dims::masked),
    MLM_TRANSFORMED(Region.EMBEDDINGS_AND_HEADS, d -> d.masked() * d.hidden()),
    MLM_LOGITS(Region.EMBEDDINGS_AND_HEADS, d -> d.masked() * d.vocab()),
    MLM_PROBS(Region.EMBEDDINGS_AND_HEADS, d -> d.masked() * d.vocab()),
    CLS_ROWS(Region.EMBEDDINGS_AND_HEADS, d -> d.sequences() * d.hidden()),
    POOLER_DENSE(Region.EMBEDDINGS_AND_HEADS, d -> d.sequences() * d.hidden()),
    POOLED(Region.EMBEDDINGS_AND_HEADS, d -> d.sequences() * d.hidden()),
    POOLED_DROPOUT(Region.EMBEDDINGS_AND_HEADS, d -> d.sequences() * d.hidden()),
    CLASSIFIER_LOGITS(Region.EMBEDDINGS_AND_HEADS, d -> d.sequences() * d.labels()),
    CLASSIFIER_PROBS(Region.EMBEDDINGS_AND_HEADS, d -> d.sequences() * d.labels()),
    MLM_LSE(Region.EMBEDDINGS_AND_HEADS, Dims::masked),
    CLASSIFIER_LSE(Region.EMBEDDINGS_AND_HEADS, Dims::sequences),

    QKV(Region.LAYER, d -> 3 * d.tokens() * d.hidden()),
    ATTENTION_STATE(Region.LAYER, Dims::attentionState),
    CONTEXT(Region.LAYER, d -> d.tokens() * d.hidden()),
    LN1_IN(Region.LAYER, d -> d.tokens() * d.hidden()),
    LN1_MEAN(Region.LAYER, Dims::tokens),
    LN1_RSTD(Region.LAYER, Dims::tokens),
    ATTENTION_OUT(Region.LAYER, d -> d.tokens() * d.hidden()),
    GATED(Region.LAYER, d -> 2 * d.tokens() * d.intermediate()),
    GEGLU(Region.LAYER, d -> d.tokens() * d.intermediate()),
    LN2_IN(Region.LAYER, d -> d.tokens() * d.hidden()),
    LN2_MEAN(Region.LAYER, Dims::tokens),
    LN2_RSTD(Region.LAYER, Dims::tokens),
    LAYER_OUT(Region.LAYER, d -> d.tokens() * d.hidden()),

    D_X(Region.GRADIENT_SCRATCH, d -> d.scratchRows() * d.hidden()),
    D_A(Region.GRADIENT_SCRATCH, d -> d.scratchRows() * d.hidden()),
    D_LN(Region.GRADIENT_SCRATCH, d -> d.scratchRows() * d.hidden()),
    D_CONTEXT(Region.GRADIENT_SCRATCH, d -> d.scratchRows() * d.hidden()),
    D_GATED(Region.GRADIENT_SCRATCH, d -> 2 * d.tokens() * d.intermediate()),
    D_GEGLU(Region.GRADIENT_SCRATCH, d -> d.tokens() * d.intermediate()),
    D_QKV(Region.GRADIENT_SCRATCH, d -> 3 * d.tokens() * d.hidden());

    final Region region;
    final ToLongFunction<Dims> floats;

    Tensor(Region region, ToLongFunction<Dims> floats) {
      this.region = region;
      this.floats = floats;
    }
  }

  private final Dims dims;
  private final int layers;
  private final MosaicBert.Mode mode;
  private final Map<Tensor, Long> offsets = new EnumMap<>(Tensor.class);
  private final Map<Region, Long> sizes = new EnumMap<>(Region.class);

  private ActivationPlan(Dims dims, int layers, MosaicBert.Mode mode) {
    this.dims = dims;
    this.layers = layers;
    this.mode = mode;
    for (Region region : Region.values()) {
      sizes.put(region, 0L);
    }
    for (Tensor t : Tensor.values()) {
      long at = align(sizes.get(t.region));
      offsets.put(t, at);
      sizes.put(t.region, at + t.floats.applyAsLong(dims));
    }
  }

  /**
   * The plan for a model of {@code config} on {@code backend} for micro-batches of at most {@code shape}. A layer's
   * attention state is sized for the worst micro-batch the shape allows: sequences of maxSeqLen tokens, as many as
   * maxTokens hold (the backend's state grows at least linearly in a sequence's length).
   */
  static ActivationPlan of(ModelConfig config, MosaicBert.Capacity shape, Backend backend, MosaicBert.Mode mode) {
    long perLongest = backend.attentionStateFloats(config.numHeads(), shape.maxSeqLen());
    long attentionState = (shape.maxTokens() * perLongest + shape.maxSeqLen() - 1) / shape.maxSeqLen();
    return new ActivationPlan(new Dims(shape.maxTokens(), shape.maxSequences(), shape.maxMasked(),
        config.hiddenSize(), config.intermediateSize(), config.vocabSize(), config.numLabels(), attentionState),
        config.numLayers(), mode);
  }

  private static long align(long floats) {
    return (floats + ALIGN - 1) / ALIGN * ALIGN;
  }

  /** Where a tensor starts in its region's buffer. */
  long offset(Tensor t) {
    return offsets.get(t);
  }

  /** A tensor's size in floats. */
  long floats(Tensor t) {
    return t.floats.applyAsLong(dims);
  }

  /** Floats of one buffer of the region. */
  long floats(Region region) {
    return sizes.get(region);
  }

  /** How many layer buffers there are: one per layer for training, one shared for inference. */
  int layerBuffers() {
    return mode == MosaicBert.Mode.TRAINING ? layers : 1;
  }

  /** Floats of the largest buffer: the CPU backend's buffers hold at most 2^31 - 1. */
  long largestBufferFloats() {
    return Math.max(floats(Region.EMBEDDINGS_AND_HEADS), Math.max(floats(Region.LAYER), scratchFloats()));
  }

  /** Floats of every activation buffer together. */
  long totalFloats() {
    return floats(Region.EMBEDDINGS_AND_HEADS) + layerBuffers() * floats(Region.LAYER) + scratchFloats();
  }

  private long scratchFloats() {
    return mode == MosaicBert.Mode.TRAINING ? floats(Region.GRADIENT_SCRATCH) : 0;
  }

  /** The plan in MiB, for the log: the total, each region, and the attention state inside each layer. */
  String describe() {
    return String.format(Locale.ROOT, "activations %.1f MiB: embeddings and heads %.1f, %s x %.1f (attention "
        + "state %.1f of it), gradient scratch %.1f", mib(totalFloats()), mib(floats(Region.EMBEDDINGS_AND_HEADS)),
        mode == MosaicBert.Mode.TRAINING ? layers + " layers" : "1 layer buffer shared by " + layers + " layers",
        mib(floats(Region.LAYER)), mib(dims.attentionState()), mib(scratchFloats()));
  }

  /** Buffers hold 4 bytes a float on every backend, whatever precision they store. */
  private static double mib(long floats) {
    return floats * 4.0 / (1 << 20);
  }

  /**
   * Allocates every buffer of the plan on {@code backend}; when one cannot be allocated, those before it are given
   * back before the failure propagates.
   */
  Activations allocate(Backend backend) {
    java.util.List<Buffer> done = new java.util.ArrayList<>();
    try {
      Buffer embeddingsAndHeads = allocate(backend, Region.EMBEDDINGS_AND_HEADS, "", done);
      Buffer[] layerBuffers = new Buffer[layerBuffers()];
      for (int l = 0; l < layerBuffers.length; l++) {
        layerBuffers[l] = allocate(backend, Region.LAYER, layerBuffers.length == 1 ? "s" : " " + l, done);
      }
      Buffer scratch = mode == MosaicBert.Mode.TRAINING
          ? allocate(backend, Region.GRADIENT_SCRATCH, "", done) : null;
      return new Activations(embeddingsAndHeads, layerBuffers, scratch, done);
    } catch (RuntimeException | OutOfMemoryError e) {
      done.forEach(backend::free);
      throw e;
    }
  }

  private Buffer allocate(Backend backend, Region region, String suffix, java.util.List<Buffer> done) {
    Buffer b = backend.allocate(BufferKind.ACTIVATIONS, floats(region), "activations: " + region.label + suffix);
    done.add(b);
    return b;
  }

  /** The allocated buffers: views of the table's tensors. */
  final class Activations {
    private final Buffer embeddingsAndHeads;
    private final Buffer[] layerBuffers;
    private final Buffer scratch;
    private final java.util.List<Buffer> all;

    private Activations(Buffer embeddingsAndHeads, Buffer[] layerBuffers, Buffer scratch,
        java.util.List<Buffer> all) {
      this.embeddingsAndHeads = embeddingsAndHeads;
      this.layerBuffers = layerBuffers;
      this.scratch = scratch;
      this.all = all;
    }

    /** A tensor of the embeddings and heads, or of the gradient scratch (null for inference, which has none). */
    View view(Tensor t) {
      return switch (t.region) {
        case EMBEDDINGS_AND_HEADS -> embeddingsAndHeads.at(offsets.get(t));
        case GRADIENT_SCRATCH -> scratch == null ? null : scratch.at(offsets.get(t));
        case LAYER -> throw new IllegalArgumentException(t + " is a layer's: name the layer");
      };
    }

    /** A tensor of layer {@code l} (inference: of the one buffer every layer shares). */
    View view(Tensor t, int l) {
      if (t.region != Region.LAYER) {
        throw new IllegalArgumentException(t + " is not a layer's");
      }
      return layerBuffers[Math.min(l, layerBuffers.length - 1)].at(offsets.get(t));
    }

    /** Gives every buffer back to {@code backend}. */
    void free(Backend backend) {
      all.forEach(backend::free);
    }
  }
}
