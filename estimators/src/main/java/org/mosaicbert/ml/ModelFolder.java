package org.mosaicbert.ml;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.MosaicBert;
import org.mosaicbert.model.ParameterLayout;

/**
 * A model folder, flat and Hugging Face-like: {@code config.json}, {@code model.safetensors} (F32, Hugging Face
 * names, the tied decoder weight not stored twice), {@code vocab.txt}; Spark adds {@code metadata/}. Written locally
 * and copied through the Hadoop FileSystem, so any store Spark can write works.
 */
public record ModelFolder(ModelConfig config, ParameterLayout.Heads heads, float[] parameters, List<String> vocab)
    implements java.io.Serializable {
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";
  public static final String VOCAB = "vocab.txt";

  public void write(String path, Configuration conf) {
    try {
      Path local = Files.createTempDirectory("mosaicbert-model");
      try (MosaicBert model = holder(config, heads)) {
        model.backend().upload(model.parameters().at(0), parameters, 0, parameters.length);
        ModelWeights.save(model, local.resolve(WEIGHTS), Map.of());
      }
      config.write(local.resolve(CONFIG), List.of(heads == ParameterLayout.Heads.MLM ? "BertForMaskedLM"
          : "BertForSequenceClassification"));
      Files.write(local.resolve(VOCAB), vocab, StandardCharsets.UTF_8);
      org.apache.hadoop.fs.Path target = new org.apache.hadoop.fs.Path(path);
      FileSystem fs = target.getFileSystem(conf);
      fs.mkdirs(target);
      for (String name : List.of(CONFIG, WEIGHTS, VOCAB)) {
        fs.copyFromLocalFile(true, true, new org.apache.hadoop.fs.Path(local.resolve(name).toString()),
            new org.apache.hadoop.fs.Path(target, name));
      }
      Files.deleteIfExists(local);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the model to " + path + ": " + e.getMessage(), e);
    }
  }

  /** Reads a model folder with the heads its weights have (a classifier when they hold one, else MLM). */
  public static ModelFolder read(String path, Configuration conf) {
    return read(path, conf, null, null, 0);
  }

  /**
   * Reads a model folder into the given config and heads: tensors the folder lacks (a pooler and classifier when
   * fine-tuning from an MLM checkpoint) are freshly initialised from {@code seed}; those the target does not have
   * (an MLM head, a classifier of another label count when {@code dropClassifier}) are left out.
   *
   * @param target the config to read into, or null for the folder's own
   * @param heads the heads to read into, or null for the folder's own
   */
  public static ModelFolder read(String path, Configuration conf, ModelConfig target, ParameterLayout.Heads heads,
      long seed) {
    try {
      Path local = Files.createTempDirectory("mosaicbert-model");
      org.apache.hadoop.fs.Path source = new org.apache.hadoop.fs.Path(path);
      FileSystem fs = source.getFileSystem(conf);
      for (String name : List.of(CONFIG, WEIGHTS, VOCAB)) {
        org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(source, name);
        if (!fs.exists(file)) {
          throw new IllegalArgumentException(path + " is not a model folder: it has no " + name);
        }
        fs.copyToLocalFile(false, file, new org.apache.hadoop.fs.Path(local.resolve(name).toString()), true);
      }
      ModelConfig own = ModelConfig.read(local.resolve(CONFIG));
      ModelConfig config = target != null ? target : own;
      boolean hasClassifier = org.mosaicbert.io.SafeTensors.open(local.resolve(WEIGHTS)).has("classifier.weight");
      ParameterLayout.Heads layout = heads != null ? heads
          : hasClassifier ? ParameterLayout.Heads.CLASSIFIER : ParameterLayout.Heads.MLM;
      List<String> vocab = Files.readAllLines(local.resolve(VOCAB), StandardCharsets.UTF_8);
      float[] params;
      try (MosaicBert model = holder(config, layout)) {
        ModelWeights.load(model, local.resolve(WEIGHTS), seed, own.numLabels() != config.numLabels());
        params = new float[(int) model.layout().size()];
        model.backend().download(params, 0, model.parameters().at(0), params.length);
      }
      for (String name : List.of(CONFIG, WEIGHTS, VOCAB)) {
        Files.deleteIfExists(local.resolve(name));
      }
      Files.deleteIfExists(local);
      return new ModelFolder(config, layout, params, vocab);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the model folder " + path + ": " + e.getMessage(), e);
    }
  }

  /** The config.json of a model folder. */
  public static ModelConfig readConfig(String path, Configuration conf) {
    try {
      Path local = Files.createTempFile("mosaicbert-config", ".json");
      org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(path, CONFIG);
      FileSystem fs = file.getFileSystem(conf);
      if (!fs.exists(file)) {
        throw new IllegalArgumentException(path + " is not a model folder: it has no " + CONFIG);
      }
      fs.copyToLocalFile(false, file, new org.apache.hadoop.fs.Path(local.toString()), true);
      ModelConfig config = ModelConfig.read(local);
      Files.deleteIfExists(local);
      return config;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + path + "/" + CONFIG + ": " + e.getMessage(), e);
    }
  }

  /** A model with room for nothing but its parameters: for moving weights in and out. */
  private static MosaicBert holder(ModelConfig config, ParameterLayout.Heads heads) {
    return new MosaicBert(config, heads, new CpuBackend(1), new MosaicBert.Capacity(1, 1, 1, 1));
  }
}
