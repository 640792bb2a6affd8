package org.mosaicbert.io;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.random.Hashing;

/**
 * Initialising, loading and saving a model's weights under their Hugging Face names. Weights are a flat
 * {@code float[]} in the order of a {@link ParameterLayout} (what a model's parameter buffer holds), so moving them in
 * or out needs no model and no backend.
 */
public final class ModelWeights {
  private ModelWeights() {}

  /**
   * What a load gave: the flat weights, the tensors freshly initialised because the file lacks them, and the file's
   * tensors not used.
   */
  public record Loaded(float[] values, List<String> initialised, List<String> ignored) {}

  /**
   * As docs/model.md §1.10 says: Linear and Embedding weights ~ N(0, initializer_range²), biases 0, LayerNorm
   * weights 1, the padding row of the word embeddings 0. Deterministic in {@code seed}.
   */
  public static float[] initial(ParameterLayout layout, ModelConfig config, long seed) {
    float[] values = new float[checkedSize(layout)];
    for (ParameterLayout.Tensor t : layout.tensors()) {
      initialize(config, t, values, seed);
    }
    return values;
  }

  private static int checkedSize(ParameterLayout layout) {
    if (layout.size() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("a model of " + layout.size() + " parameters does not fit one Java array");
    }
    return (int) layout.size();
  }

  /** Writes tensor t's initial values into its place in the flat weights. */
  private static void initialize(ModelConfig config, ParameterLayout.Tensor t, float[] weights, long seed) {
    int from = (int) t.offset();
    int size = (int) t.size();
    switch (t.init()) {
      case ONES -> Arrays.fill(weights, from, from + size, 1f);
      case ZEROS -> Arrays.fill(weights, from, from + size, 0f);
      case NORMAL -> {
        long key = Hashing.key(seed, t.name().hashCode());
        double std = config.initializerRange();
        for (int i = 0; i < size; i += 2) {
          // Box-Muller on two counter-based uniforms.
          double u1 = Math.max(Hashing.uniform(key, i), 1e-12);
          double u2 = Hashing.uniform(key, i + 1);
          double r = Math.sqrt(-2 * Math.log(u1));
          weights[from + i] = (float) (std * r * Math.cos(2 * Math.PI * u2));
          if (i + 1 < size) {
            weights[from + i + 1] = (float) (std * r * Math.sin(2 * Math.PI * u2));
          }
        }
        if (t.name().equals("bert.embeddings.word_embeddings.weight")) {
          int h = config.hiddenSize();
          Arrays.fill(weights, from + config.padTokenId() * h, from + (config.padTokenId() + 1) * h, 0f);
        }
      }
      default -> throw new IllegalStateException("init " + t.init());
    }
  }

  /**
   * Loads a safetensors checkpoint into the weights of {@code layout}: Hugging Face names, with or without Composer's
   * {@code model.} prefix, the tied {@code cls.predictions.decoder.weight} present or not. Tensors the layout has and
   * the file lacks (a pooler and classifier when fine-tuning from an MLM checkpoint) are freshly initialised from
   * {@code seed} and reported; with {@code freshClassifier} the file's classifier is not used either (the recipe's
   * MNLI-to-RTE/MRPC/STS-B chaining keeps encoder and pooler, drops the 3-way classifier).
   */
  public static Loaded load(ParameterLayout layout, ModelConfig config, Path file, long seed,
      boolean freshClassifier) {
    SafeTensors st = SafeTensors.open(file);
    String prefix = st.entries().keySet().stream().allMatch(n -> n.startsWith("model.")) ? "model." : "";
    float[] values = new float[checkedSize(layout)];
    List<String> initialised = new ArrayList<>();
    for (ParameterLayout.Tensor t : layout.tensors()) {
      String name = prefix + t.name();
      if (!st.has(name) || (freshClassifier && t.name().startsWith("classifier."))) {
        initialize(config, t, values, seed);
        initialised.add(t.name());
        continue;
      }
      SafeTensors.Entry e = st.entry(name);
      long[] expected = Arrays.stream(t.shape()).asLongStream().toArray();
      if (!Arrays.equals(e.shape(), expected)) {
        throw new IllegalArgumentException(file + ": tensor " + name + " has shape " + e.shapeString() + " but the "
            + "config gives " + t.shapeString() + "; the checkpoint and config.json do not belong together");
      }
      float[] tensor = st.floats(name);
      for (int i = 0; i < tensor.length; i++) {
        if (!Float.isFinite(tensor[i])) {
          throw new IllegalArgumentException(file + ": tensor " + name + " holds " + tensor[i] + " at index " + i
              + "; a model with non-finite weights scores and trains to garbage and cannot be used: train it again, "
              + "or use the model it was made from");
        }
      }
      System.arraycopy(tensor, 0, values, (int) t.offset(), (int) t.size());
    }
    List<String> ignored = new ArrayList<>();
    for (String name : st.entries().keySet()) {
      String bare = name.substring(prefix.length());
      if (!layout.has(bare) && !bare.equals("cls.predictions.decoder.weight")) {
        ignored.add(bare);
      }
    }
    if (initialised.stream().anyMatch(n -> n.startsWith("bert.embeddings") || n.startsWith("bert.encoder"))) {
      throw new IllegalArgumentException(file + " lacks encoder tensors the model needs, such as "
          + initialised.stream().filter(n -> n.startsWith("bert.")).findFirst().orElseThrow()
          + "; it is not a MosaicBERT checkpoint of this configuration");
    }
    return new Loaded(values, initialised, ignored);
  }

  /** Saves the weights of {@code layout} (F32, Hugging Face names; the tied decoder weight is not stored twice). */
  public static void save(ParameterLayout layout, float[] values, Path file, Map<String, String> metadata)
      throws IOException {
    if (values.length != layout.size()) {
      throw new IllegalArgumentException(values.length + " weights for a layout of " + layout.size());
    }
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    for (ParameterLayout.Tensor t : layout.tensors()) {
      float[] tensor = Arrays.copyOfRange(values, (int) t.offset(), (int) (t.offset() + t.size()));
      tensors.add(SafeTensors.Tensor.f32(t.name(), tensor, Arrays.stream(t.shape()).asLongStream().toArray()));
    }
    Map<String, String> meta = new TreeMap<>(metadata);
    meta.putIfAbsent("format", "pt");
    SafeTensors.write(file, tensors, meta);
  }
}
