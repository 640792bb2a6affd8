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
  /** The one activation the engine implements (the exact erf GELU, as mosaic-bert-base's config names it). */
  public static final String HIDDEN_ACT = "gelu";
  /**
   * The most parameters a model may have: the engine keeps them, their gradients and the optimizer's moments each in
   * one flat buffer, which checkpoints move through a Java array.
   */
  public static final long MAX_PARAMETERS = Integer.MAX_VALUE - 8;

  public ModelConfig {
    range(vocabSize, "vocab_size", 1, 1 << 24);
    range(hiddenSize, "hidden_size", 1, 1 << 16);
    range(numLayers, "num_hidden_layers", 1, 1000);
    range(numHeads, "num_attention_heads", 1, hiddenSize);
    check(hiddenSize % numHeads == 0, "hidden_size", hiddenSize, "is not a multiple of num_attention_heads "
        + numHeads);
    range(intermediateSize, "intermediate_size", 1, 1 << 20);
    range(typeVocabSize, "type_vocab_size", 1, 1 << 16);
    range(maxPositionEmbeddings, "max_position_embeddings", 1, 1 << 24);
    range(alibiStartingSize, "alibi_starting_size", 1, 1 << 24);
    long h = hiddenSize;
    long perLayer = 4 * h * h + 3 * h * intermediateSize + 16 * h + 2L * intermediateSize; // an upper bound
    long parameters = (vocabSize + typeVocabSize + 4) * h + numLayers * perLayer + h * h;
    check(parameters <= MAX_PARAMETERS, "num_hidden_layers, hidden_size, intermediate_size, vocab_size",
        numLayers + ", " + hiddenSize + ", " + intermediateSize + ", " + vocabSize, "make a model of about "
        + parameters + " parameters; the engine holds at most " + MAX_PARAMETERS);
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

  private static void range(long value, String key, long min, long max) {
    check(value >= min && value <= max, key, value, "must be an integer in [" + min + ", " + max + "]");
  }

  private static void check(boolean ok, String key, Object value, String problem) {
    if (!ok) {
      throw new IllegalArgumentException("config " + key + " = " + value + " " + problem);
    }
  }

  /**
   * Refuses to train a config with attention dropout, which the engine does not implement: MosaicBERT trains without
   * it (its FlashAttention path has none, and upstream fine-tuning sets it to 0). At inference dropout does nothing,
   * so scoring such a config is fine.
   *
   * @param where the config's origin, for the message (a file, a preset, a model folder)
   */
  public void requireTrainable(String where) {
    if (attentionDropout > 0) {
      throw new IllegalArgumentException(where + ": attention_probs_dropout_prob = " + attentionDropout + ", but "
          + "attention dropout is not implemented here (MosaicBERT trains with 0: its FlashAttention path has none). "
          + "Set \"attention_probs_dropout_prob\": 0.0 in the config.json to train it; scoring is unaffected");
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

  /** The same model without attention dropout, which training here refuses ({@link #requireTrainable}). */
  public ModelConfig withoutAttentionDropout() {
    return new ModelConfig(vocabSize, hiddenSize, numLayers, numHeads, intermediateSize, typeVocabSize, layerNormEps,
        hiddenDropout, 0.0, classifierDropout, initializerRange, numLabels, problemType, padTokenId,
        maxPositionEmbeddings, alibiStartingSize, labels);
  }

  /** The same model with the ALiBi table built for {@code size} tokens (HF's {@code alibi_starting_size}). */
  public ModelConfig withAlibiStartingSize(int size) {
    return new ModelConfig(vocabSize, hiddenSize, numLayers, numHeads, intermediateSize, typeVocabSize, layerNormEps,
        hiddenDropout, attentionDropout, classifierDropout, initializerRange, numLabels, problemType, padTokenId,
        maxPositionEmbeddings, size, labels);
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
      // Not the parser's own message: it quotes the file, which may be anything but a config (a secret, say).
      json = new ObjectMapper().readTree(Files.readAllBytes(file));
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("config file " + file + " does not exist", e);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      var at = e.getLocation();
      throw new IllegalArgumentException("config file " + file + " is not valid JSON (line "
          + (at == null ? "?" : at.getLineNr()) + ", column " + (at == null ? "?" : at.getColumnNr())
          + "): give the config.json of a model", null);
    } catch (IOException e) {
      throw new IllegalArgumentException("config file " + file + " cannot be read: " + e.getMessage(), e);
    }
    if (!json.isObject()) {
      throw new IllegalArgumentException("config file " + file + " holds JSON but not an object of config keys");
    }
    try {
      return fromJson(json);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  public static ModelConfig fromJson(JsonNode json) {
    JsonNode act = json.path("hidden_act");
    check(act.isMissingNode() || act.isNull() || HIDDEN_ACT.equals(act.asText(null)), "hidden_act", act,
        "is not implemented: this engine implements \"" + HIDDEN_ACT + "\" (the exact erf GELU) only");
    JsonNode id2label = json.path("id2label");
    int labels = json.has("num_labels") ? integer(json, "num_labels", 0) : id2label.isObject() ? id2label.size() : 2;
    JsonNode problem = json.path("problem_type");
    return new ModelConfig(
        integer(json, "vocab_size", null),
        integer(json, "hidden_size", null),
        integer(json, "num_hidden_layers", null),
        integer(json, "num_attention_heads", null),
        integer(json, "intermediate_size", null),
        integer(json, "type_vocab_size", 2),
        number(json, "layer_norm_eps", 1e-12),
        number(json, "hidden_dropout_prob", 0.1),
        number(json, "attention_probs_dropout_prob", 0.0),
        number(json, "classifier_dropout", -1),
        number(json, "initializer_range", 0.02),
        labels,
        problem.isTextual() ? problem.asText() : null,
        integer(json, "pad_token_id", 0),
        integer(json, "max_position_embeddings", 512),
        integer(json, "alibi_starting_size", 512),
        namedLabels(id2label));
  }

  /** An int-valued key: missing gives {@code absent} (null: the key is required); anything else is refused. */
  private static int integer(JsonNode json, String key, Integer absent) {
    JsonNode node = json.path(key);
    if (node.isMissingNode() || node.isNull()) {
      check(absent != null, key, "missing", "is required");
      return absent;
    }
    // canConvertToInt: 4294967424 is refused, not wrapped to 128
    check(node.isIntegralNumber() && node.canConvertToInt(), key, node, "must be an integer in [-2^31, 2^31)");
    return node.asInt();
  }

  private static double number(JsonNode json, String key, double absent) {
    JsonNode node = json.path(key);
    if (node.isMissingNode() || node.isNull()) {
      return absent;
    }
    check(node.isNumber() && Double.isFinite(node.asDouble()), key, node, "must be a finite number");
    return node.asDouble();
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
