package org.mosaicbert.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A MosaicBERT model's shape and hyperparameters, read from and written to a Hugging Face {@code config.json} with
 * the keys of {@code mosaic-bert-base}. {@code vocab_size} is taken as it is (a preset pads it to a multiple of 64).
 * The constructor rejects inconsistent values, naming the field and the remedy.
 *
 * @param numLabels labels of a classification head; 1 means a regression head
 * @param problemType "single_label_classification" or "regression" (null: from numLabels)
 * @param classifierDropout dropout before the classifier; negative means "same as hiddenDropout" (HF's null)
 * @param labels the class names of a classifier trained on string labels, by class index ({@code id2label}); null
 *     when the labels are plain indices
 */
public record ModelConfig(int vocabSize, int hiddenSize, int numLayers, int numHeads, int intermediateSize,
    int typeVocabSize, double layerNormEps, double hiddenDropout, double attentionDropout, double classifierDropout,
    double initializerRange, int numLabels, String problemType, int padTokenId, int maxPositionEmbeddings,
    int alibiStartingSize, List<String> labels) implements java.io.Serializable {

  public static final List<String> PRESETS = List.of("tiny", "mini", "small", "base", "large");

  public ModelConfig {
    check(vocabSize > 0, "vocab_size", vocabSize, "must be positive");
    check(hiddenSize > 0, "hidden_size", hiddenSize, "must be positive");
    check(numLayers > 0, "num_hidden_layers", numLayers, "must be positive");
    check(numHeads > 0, "num_attention_heads", numHeads, "must be positive");
    check(hiddenSize % numHeads == 0, "hidden_size", hiddenSize, "is not a multiple of num_attention_heads "
        + numHeads);
    check(intermediateSize > 0, "intermediate_size", intermediateSize, "must be positive");
    check(typeVocabSize > 0, "type_vocab_size", typeVocabSize, "must be positive");
    check(layerNormEps > 0, "layer_norm_eps", layerNormEps, "must be positive");
    check(hiddenDropout >= 0 && hiddenDropout < 1, "hidden_dropout_prob", hiddenDropout, "must be in [0, 1)");
    check(attentionDropout >= 0 && attentionDropout < 1, "attention_probs_dropout_prob", attentionDropout,
        "must be in [0, 1)");
    check(classifierDropout < 1, "classifier_dropout", classifierDropout, "must be below 1");
    check(initializerRange > 0, "initializer_range", initializerRange, "must be positive");
    check(numLabels >= 1, "num_labels", numLabels, "must be at least 1 (1 is a regression head)");
    if (problemType == null) {
      problemType = numLabels == 1 ? "regression" : "single_label_classification";
    }
    check(problemType.equals("regression") == (numLabels == 1), "problem_type", problemType,
        "does not match num_labels " + numLabels + " (regression has exactly one label)");
    check(padTokenId >= 0 && padTokenId < vocabSize, "pad_token_id", padTokenId, "must be a token id");
    if (labels != null) {
      check(labels.size() == numLabels && labels.stream().distinct().count() == numLabels, "id2label", labels,
          "must name each of the " + numLabels + " labels once");
      labels = List.copyOf(labels);
    }
  }

  private static void check(boolean ok, String key, Object value, String problem) {
    if (!ok) {
      throw new IllegalArgumentException("config " + key + " = " + value + " " + problem);
    }
  }

  public int headDim() {
    return hiddenSize / numHeads;
  }

  public boolean isRegression() {
    return numLabels == 1;
  }

  /** Dropout before the classifier: {@code classifier_dropout}, or the hidden dropout when that is null. */
  public double effectiveClassifierDropout() {
    return classifierDropout < 0 ? hiddenDropout : classifierDropout;
  }

  public ModelConfig withHead(int numLabels) {
    return new ModelConfig(vocabSize, hiddenSize, numLayers, numHeads, intermediateSize, typeVocabSize, layerNormEps,
        hiddenDropout, attentionDropout, classifierDropout, initializerRange, numLabels, null, padTokenId,
        maxPositionEmbeddings, alibiStartingSize, null);
  }

  /** A classification head over these named labels (class i is {@code labels.get(i)}). */
  public ModelConfig withLabels(List<String> labels) {
    return new ModelConfig(vocabSize, hiddenSize, numLayers, numHeads, intermediateSize, typeVocabSize, layerNormEps,
        hiddenDropout, attentionDropout, classifierDropout, initializerRange, labels.size(), null, padTokenId,
        maxPositionEmbeddings, alibiStartingSize, labels);
  }

  /** A preset's shape at a vocabulary size padded up to a multiple of 64. */
  public static ModelConfig preset(String name, int vocabularySize) {
    int vocab = (vocabularySize + 63) / 64 * 64;
    int[] shape = switch (name.toLowerCase(Locale.ROOT)) {
      case "tiny" -> new int[] {128, 2, 2, 256};
      case "mini" -> new int[] {256, 4, 4, 1024};
      case "small" -> new int[] {512, 4, 8, 2048};
      case "base" -> new int[] {768, 12, 12, 3072};
      case "large" -> new int[] {1024, 24, 16, 4096};
      default -> throw new IllegalArgumentException("unknown model preset '" + name + "'; the presets are " + PRESETS
          + ", or give the path of a config.json");
    };
    return new ModelConfig(vocab, shape[0], shape[1], shape[2], shape[3], 2, 1e-12, 0.1, 0.0, -1, 0.02, 2, null, 0,
        512, 512, null);
  }

  public static ModelConfig read(Path file) {
    JsonNode json;
    try {
      json = new ObjectMapper().readTree(Files.readAllBytes(file));
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("config file " + file + " does not exist", e);
    } catch (IOException e) {
      throw new IllegalArgumentException("config file " + file + " is not valid JSON: " + e.getMessage(), e);
    }
    try {
      return fromJson(json);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  public static ModelConfig fromJson(JsonNode json) {
    JsonNode numLabels = json.path("num_labels");
    JsonNode id2label = json.path("id2label");
    int labels = numLabels.isInt() ? numLabels.asInt() : id2label.isObject() ? id2label.size() : 2;
    JsonNode problem = json.path("problem_type");
    JsonNode classifierDropout = json.path("classifier_dropout");
    return new ModelConfig(
        required(json, "vocab_size").asInt(),
        required(json, "hidden_size").asInt(),
        required(json, "num_hidden_layers").asInt(),
        required(json, "num_attention_heads").asInt(),
        required(json, "intermediate_size").asInt(),
        json.path("type_vocab_size").asInt(2),
        json.path("layer_norm_eps").asDouble(1e-12),
        json.path("hidden_dropout_prob").asDouble(0.1),
        json.path("attention_probs_dropout_prob").asDouble(0.0),
        classifierDropout.isNumber() ? classifierDropout.asDouble() : -1,
        json.path("initializer_range").asDouble(0.02),
        labels,
        problem.isTextual() ? problem.asText() : null,
        json.path("pad_token_id").asInt(0),
        json.path("max_position_embeddings").asInt(512),
        json.path("alibi_starting_size").asInt(512),
        namedLabels(id2label));
  }

  /**
   * The label names of {@code id2label}, or null when there are none or they are Hugging Face's placeholders
   * ({@code LABEL_0}, {@code LABEL_1}, ...), which name nothing.
   */
  private static List<String> namedLabels(JsonNode id2label) {
    if (!id2label.isObject() || id2label.isEmpty()) {
      return null;
    }
    String[] names = new String[id2label.size()];
    for (var it = id2label.fields(); it.hasNext(); ) {
      var entry = it.next();
      int index;
      try {
        index = Integer.parseInt(entry.getKey());
      } catch (NumberFormatException e) {
        index = -1;
      }
      check(index >= 0 && index < names.length && names[index] == null, "id2label", id2label,
          "must map each class index 0.." + (names.length - 1) + " to a name");
      names[index] = entry.getValue().asText();
    }
    boolean placeholders = true;
    for (int i = 0; i < names.length; i++) {
      placeholders &= names[i].equals("LABEL_" + i);
    }
    return placeholders ? null : List.of(names);
  }

  private static JsonNode required(JsonNode json, String key) {
    JsonNode node = json.path(key);
    if (!node.isNumber()) {
      throw new IllegalArgumentException("config has no numeric '" + key + "'");
    }
    return node;
  }

  /** The {@code config.json} of this model, as Hugging Face writes it for mosaic-bert-base (no auto_map). */
  public ObjectNode toJson(List<String> architectures) {
    ObjectNode json = new ObjectMapper().createObjectNode();
    json.put("model_type", "bert");
    json.putArray("architectures").addAll(architectures.stream()
        .map(a -> json.textNode(a)).toList());
    json.put("vocab_size", vocabSize);
    json.put("hidden_size", hiddenSize);
    json.put("num_hidden_layers", numLayers);
    json.put("num_attention_heads", numHeads);
    json.put("intermediate_size", intermediateSize);
    json.put("hidden_act", "gelu");
    json.put("type_vocab_size", typeVocabSize);
    json.put("layer_norm_eps", layerNormEps);
    json.put("hidden_dropout_prob", hiddenDropout);
    json.put("attention_probs_dropout_prob", attentionDropout);
    if (classifierDropout < 0) {
      json.putNull("classifier_dropout");
    } else {
      json.put("classifier_dropout", classifierDropout);
    }
    json.put("initializer_range", initializerRange);
    json.put("num_labels", numLabels);
    if (labels != null) {
      ObjectNode id2label = json.putObject("id2label");
      ObjectNode label2id = json.putObject("label2id");
      for (int i = 0; i < labels.size(); i++) {
        id2label.put(Integer.toString(i), labels.get(i));
        label2id.put(labels.get(i), i);
      }
    }
    json.put("problem_type", problemType);
    json.put("pad_token_id", padTokenId);
    json.put("max_position_embeddings", maxPositionEmbeddings);
    json.put("alibi_starting_size", alibiStartingSize);
    json.put("position_embedding_type", "absolute");
    return json;
  }

  public void write(Path file, List<String> architectures) throws IOException {
    Files.write(file, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
        .writeValueAsBytes(toJson(architectures)));
  }
}
