package org.mosaicbert.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.mosaicbert.config.ModelConfig;

/**
 * The parameter table: every tensor once, under its Hugging Face name of {@code mosaic-bert-base}, with its shape
 * and its offset in the one flat buffer that parameters, gradients and the optimizer moments all share. The MLM
 * decoder weight is tied to the word embeddings and has no entry of its own.
 */
public final class ParameterLayout {
  /** What an initializer puts in a tensor (docs/model.md §1.10). */
  public enum Init { NORMAL, ZEROS, ONES }

  /** One tensor: name, shape, offset and size in floats, and how it starts. */
  public record Tensor(String name, int[] shape, long offset, long size, Init init) {
    public String shapeString() {
      return Arrays.toString(shape);
    }
  }

  /** The heads a model carries besides the encoder. */
  public enum Heads { MLM, CLASSIFIER, BOTH }

  private final List<Tensor> tensors;
  private final Map<String, Tensor> byName;
  private final long size;

  public ParameterLayout(ModelConfig c, Heads heads) {
    List<Tensor> list = new ArrayList<>();
    long[] offset = {0};
    int h = c.hiddenSize();
    int i = c.intermediateSize();
    add(list, offset, "bert.embeddings.word_embeddings.weight", Init.NORMAL, c.vocabSize(), h);
    add(list, offset, "bert.embeddings.token_type_embeddings.weight", Init.NORMAL, c.typeVocabSize(), h);
    add(list, offset, "bert.embeddings.LayerNorm.weight", Init.ONES, h);
    add(list, offset, "bert.embeddings.LayerNorm.bias", Init.ZEROS, h);
    for (int l = 0; l < c.numLayers(); l++) {
      String p = "bert.encoder.layer." + l + ".";
      add(list, offset, p + "attention.self.Wqkv.weight", Init.NORMAL, 3 * h, h);
      add(list, offset, p + "attention.self.Wqkv.bias", Init.ZEROS, 3 * h);
      add(list, offset, p + "attention.output.dense.weight", Init.NORMAL, h, h);
      add(list, offset, p + "attention.output.dense.bias", Init.ZEROS, h);
      add(list, offset, p + "attention.output.LayerNorm.weight", Init.ONES, h);
      add(list, offset, p + "attention.output.LayerNorm.bias", Init.ZEROS, h);
      add(list, offset, p + "mlp.gated_layers.weight", Init.NORMAL, 2 * i, h);
      add(list, offset, p + "mlp.wo.weight", Init.NORMAL, h, i);
      add(list, offset, p + "mlp.wo.bias", Init.ZEROS, h);
      add(list, offset, p + "mlp.layernorm.weight", Init.ONES, h);
      add(list, offset, p + "mlp.layernorm.bias", Init.ZEROS, h);
    }
    if (heads != Heads.CLASSIFIER) {
      add(list, offset, "cls.predictions.transform.dense.weight", Init.NORMAL, h, h);
      add(list, offset, "cls.predictions.transform.dense.bias", Init.ZEROS, h);
      add(list, offset, "cls.predictions.transform.LayerNorm.weight", Init.ONES, h);
      add(list, offset, "cls.predictions.transform.LayerNorm.bias", Init.ZEROS, h);
      add(list, offset, "cls.predictions.decoder.bias", Init.ZEROS, c.vocabSize());
    }
    if (heads != Heads.MLM) {
      add(list, offset, "bert.pooler.dense.weight", Init.NORMAL, h, h);
      add(list, offset, "bert.pooler.dense.bias", Init.ZEROS, h);
      add(list, offset, "classifier.weight", Init.NORMAL, c.numLabels(), h);
      add(list, offset, "classifier.bias", Init.ZEROS, c.numLabels());
    }
    this.tensors = Collections.unmodifiableList(list);
    Map<String, Tensor> map = new LinkedHashMap<>();
    list.forEach(t -> map.put(t.name(), t));
    this.byName = Collections.unmodifiableMap(map);
    this.size = offset[0];
  }

  private static void add(List<Tensor> list, long[] offset, String name, Init init, int... shape) {
    long n = 1;
    for (int d : shape) {
      n *= d;
    }
    list.add(new Tensor(name, shape, offset[0], n, init));
    offset[0] += n;
  }

  public List<Tensor> tensors() {
    return tensors;
  }

  public boolean has(String name) {
    return byName.containsKey(name);
  }

  public Tensor get(String name) {
    Tensor t = byName.get(name);
    if (t == null) {
      throw new IllegalArgumentException("the model has no parameter " + name);
    }
    return t;
  }

  public long offset(String name) {
    return get(name).offset();
  }

  /** Floats in the flat buffer: the number of trainable parameters. */
  public long size() {
    return size;
  }

  /** Parameters outside the embedding tables, the count the MFU formula uses. */
  public long nonEmbeddingSize() {
    return size - get("bert.embeddings.word_embeddings.weight").size()
        - get("bert.embeddings.token_type_embeddings.weight").size();
  }
}
