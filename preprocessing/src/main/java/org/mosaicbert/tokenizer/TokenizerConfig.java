package org.mosaicbert.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The normalizer flags of a Hugging Face {@code tokenizer_config.json}, under {@code BertTokenizer}'s keys and
 * defaults: {@code do_lower_case} (absent: true), {@code strip_accents} (absent or null: the same as
 * {@code do_lower_case}) and {@code tokenize_chinese_chars} (absent: true). Hugging Face's BERT tokenizers always
 * clean the text; {@code clean_text} is our key, written only for the rare tokenizer that turned cleaning off (a
 * {@code tokenizer.json} can), and absent means true. {@code model_max_length} is read on its own
 * ({@link #modelMaxLength}); the file's other keys (special tokens) are not read.
 */
public final class TokenizerConfig {
  public static final String FILE_NAME = "tokenizer_config.json";

  private TokenizerConfig() {}

  /** Reads a local {@code tokenizer_config.json}. */
  public static BertNormalizer read(Path file) {
    try {
      return parse(Files.readAllBytes(file), file.toString());
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(file + " does not exist; give the tokenizer_config.json of the model", e);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * The normalizer of a {@code tokenizer_config.json}'s bytes.
   *
   * @param where the file, for error messages
   */
  public static BertNormalizer parse(byte[] json, String where) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(json);
    } catch (IOException e) {
      throw new IllegalArgumentException(where + " is not valid JSON: " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException(where + " must hold a JSON object (the tokenizer's settings by name)");
    }
    boolean lowercase = flag(root, "do_lower_case", true, where);
    return new BertNormalizer(flag(root, "clean_text", true, where),
        flag(root, "tokenize_chinese_chars", true, where),
        flag(root, "strip_accents", lowercase, where), // Hugging Face: null means "as do_lower_case"
        lowercase);
  }

  /**
   * The {@code model_max_length} of a {@code tokenizer_config.json}'s bytes: the sequence length the model is meant
   * for. Absent, null, or Hugging Face's "no limit" (a number past any int, int(1e30) when a tokenizer was saved
   * without one): {@code absent}.
   *
   * @param where the file, for error messages
   */
  public static int modelMaxLength(byte[] json, String where, int absent) {
    JsonNode value;
    try {
      value = new ObjectMapper().readTree(json).path("model_max_length");
    } catch (IOException e) {
      throw new IllegalArgumentException(where + " is not valid JSON: " + e.getMessage(), e);
    }
    if (value.isMissingNode() || value.isNull()) {
      return absent;
    }
    if (!value.isIntegralNumber() || value.bigIntegerValue().signum() <= 0) {
      throw new IllegalArgumentException(where + ": model_max_length must be a positive integer, not " + value
          + "; fix the key or remove it (absent means " + absent + ")");
    }
    return value.canConvertToInt() ? value.intValue() : absent;
  }

  /** Puts the normalizer's flags into a {@code tokenizer_config.json} under Hugging Face's keys. */
  public static void putFlags(ObjectNode json, BertNormalizer normalizer) {
    json.put("do_lower_case", normalizer.lowercase());
    json.put("strip_accents", normalizer.stripAccents());
    json.put("tokenize_chinese_chars", normalizer.handleChineseChars());
    if (!normalizer.cleanText()) {
      json.put("clean_text", false);
    }
  }

  private static boolean flag(JsonNode root, String key, boolean absent, String where) {
    JsonNode value = root.path(key);
    if (value.isMissingNode() || value.isNull()) {
      return absent;
    }
    if (!value.isBoolean()) {
      throw new IllegalArgumentException(where + ": " + key + " must be true or false (or null), not " + value
          + "; fix the key or remove it (absent means " + absent + ")");
    }
    return value.booleanValue();
  }
}
