package org.mosaicbert.io;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.mosaicbert.random.Hashing;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;

/** Initialising, loading and saving a model's weights under their Hugging Face names. */
public final class ModelWeights {
  private ModelWeights() {}

  /** What a load did: tensors freshly initialised because the file lacks them, and tensors of the file not used. */
  public record LoadReport(List<String> initialised, List<String> ignored) {}

  /**
   * Spec 1.10: Linear and Embedding weights ~ N(0, initializer_range²), biases 0, LayerNorm weights 1, the padding
   * row of the word embeddings 0. Deterministic in {@code seed}.
   */
  public static void initialize(MosaicBert model, long seed) {
    for (ParameterLayout.Tensor t : model.layout().tensors()) {
      initialize(model, t, seed);
    }
  }

  private static void initialize(MosaicBert model, ParameterLayout.Tensor t, long seed) {
    float[] values = new float[(int) t.size()];
    switch (t.init()) {
      case ONES -> Arrays.fill(values, 1f);
      case ZEROS -> { }
      case NORMAL -> {
        long key = Hashing.key(seed, t.name().hashCode());
        double std = model.config().initializerRange();
        for (int i = 0; i < values.length; i += 2) {
          // Box-Muller on two counter-based uniforms.
          double u1 = Math.max(Hashing.uniform(key, i), 1e-12);
          double u2 = Hashing.uniform(key, i + 1);
          double r = Math.sqrt(-2 * Math.log(u1));
          values[i] = (float) (std * r * Math.cos(2 * Math.PI * u2));
          if (i + 1 < values.length) {
            values[i + 1] = (float) (std * r * Math.sin(2 * Math.PI * u2));
          }
        }
        if (t.name().equals("bert.embeddings.word_embeddings.weight")) {
          int h = model.config().hiddenSize();
          Arrays.fill(values, model.config().padTokenId() * h, (model.config().padTokenId() + 1) * h, 0f);
        }
      }
      default -> throw new IllegalStateException("init " + t.init());
    }
    model.setParameter(t.name(), values);
  }

  /**
   * Loads a safetensors checkpoint: Hugging Face names, with or without Composer's {@code model.} prefix, the tied
   * {@code cls.predictions.decoder.weight} present or not. Tensors the model has and the file lacks (a pooler and
   * classifier when fine-tuning from an MLM checkpoint) are freshly initialised from {@code seed} and reported.
   */
  public static LoadReport load(MosaicBert model, Path file, long seed) {
    return load(model, file, seed, false);
  }

  /**
   * As {@link #load(MosaicBert, Path, long)}; with {@code freshClassifier} the file's classifier is not used (the
   * recipe's MNLI-to-RTE/MRPC/STS-B chaining keeps encoder and pooler, drops the 3-way classifier).
   */
  public static LoadReport load(MosaicBert model, Path file, long seed, boolean freshClassifier) {
    SafeTensors st = SafeTensors.open(file);
    String prefix = st.entries().keySet().stream().allMatch(n -> n.startsWith("model.")) ? "model." : "";
    List<String> initialised = new ArrayList<>();
    for (ParameterLayout.Tensor t : model.layout().tensors()) {
      String name = prefix + t.name();
      if (!st.has(name) || (freshClassifier && t.name().startsWith("classifier."))) {
        initialize(model, t, seed);
        initialised.add(t.name());
        continue;
      }
      SafeTensors.Entry e = st.entry(name);
      long[] expected = Arrays.stream(t.shape()).asLongStream().toArray();
      if (!Arrays.equals(e.shape(), expected)) {
        throw new IllegalArgumentException(file + ": tensor " + name + " has shape " + e.shapeString() + " but the "
            + "config gives " + t.shapeString() + "; the checkpoint and config.json do not belong together");
      }
      model.setParameter(t.name(), st.floats(name));
    }
    List<String> ignored = new ArrayList<>();
    for (String name : st.entries().keySet()) {
      String bare = name.substring(prefix.length());
      if (!model.layout().has(bare) && !bare.equals("cls.predictions.decoder.weight")) {
        ignored.add(bare);
      }
    }
    if (initialised.stream().anyMatch(n -> n.startsWith("bert.embeddings") || n.startsWith("bert.encoder"))) {
      throw new IllegalArgumentException(file + " lacks encoder tensors the model needs, such as "
          + initialised.stream().filter(n -> n.startsWith("bert.")).findFirst().orElseThrow()
          + "; it is not a MosaicBERT checkpoint of this configuration");
    }
    return new LoadReport(initialised, ignored);
  }

  /** Saves every parameter (F32, Hugging Face names; the tied decoder weight is not stored twice). */
  public static void save(MosaicBert model, Path file, Map<String, String> metadata) throws IOException {
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    for (ParameterLayout.Tensor t : model.layout().tensors()) {
      tensors.add(SafeTensors.Tensor.f32(t.name(), model.parameter(t.name()),
          Arrays.stream(t.shape()).asLongStream().toArray()));
    }
    java.util.Map<String, String> meta = new java.util.TreeMap<>(metadata);
    meta.putIfAbsent("format", "pt");
    SafeTensors.write(file, tensors, meta);
  }
}
