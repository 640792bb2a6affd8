package org.mosaicbert.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Builds a {@link BertWordPieceTokenizer} from a BERT {@code vocab.txt} or a Hugging Face {@code tokenizer.json}.
 */
public final class TokenizerLoader {
  /** The BERT special tokens; those in the vocabulary are cut out of raw text as Hugging Face does. */
  public static final List<String> BERT_SPECIAL_TOKENS = List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]");

  private TokenizerLoader() {}

  /**
   * Loads by file name: {@code *.json} is a {@code tokenizer.json} (its normalizer flags rule, so {@code cased}
   * must be false), anything else a {@code vocab.txt} (uncased unless {@code cased}).
   */
  public static BertWordPieceTokenizer load(Path file, boolean cased) {
    if (file.getFileName().toString().endsWith(".json")) {
      if (cased) {
        throw new IllegalArgumentException("cased applies only to a vocab.txt; " + file + " is a tokenizer.json, "
            + "whose normalizer flags (lowercase, strip_accents) decide casing: leave cased off or give a vocab.txt");
      }
      return fromTokenizerJson(file);
    }
    return fromVocabTxt(file, cased ? BertNormalizer.cased() : BertNormalizer.uncased());
  }

  /** A {@code vocab.txt} with the given normalizer and BERT's {@code [UNK]}, {@code ##} and 100. */
  public static BertWordPieceTokenizer fromVocabTxt(Path vocabTxt, BertNormalizer normalizer) {
    Vocabulary vocab = Vocabulary.readVocabTxt(vocabTxt);
    return assemble(TokenizerSpec.bert(Arrays.asList(vocab.tokens()), normalizer), vocabTxt.toString());
  }

  /**
   * A Hugging Face {@code tokenizer.json} with a WordPiece model, a BertNormalizer and a BERT pre-tokenizer. The
   * truncation and padding blocks are ignored: the caller chooses the maximum length.
   */
  public static BertWordPieceTokenizer fromTokenizerJson(Path file) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(Files.readAllBytes(file));
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("tokenizer file " + file + " does not exist", e);
    } catch (IOException e) {
      throw new IllegalArgumentException("tokenizer file " + file + " is not valid JSON: " + e.getMessage(), e);
    }
    String where = "tokenizer file " + file;
    JsonNode model = required(root, "model", where);
    requireType(model, "WordPiece", where + " model");
    JsonNode vocabNode = required(model, "vocab", where + " model");
    String[] tokens = new String[vocabNode.size()];
    for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> entry = it.next();
      int id = entry.getValue().asInt(-1);
      if (id < 0 || id >= tokens.length || tokens[id] != null) {
        throw new IllegalArgumentException(where + ": model.vocab gives '" + entry.getKey() + "' the id "
            + entry.getValue() + "; ids must be 0.." + (tokens.length - 1) + ", each used once");
      }
      tokens[id] = entry.getKey();
    }
    Vocabulary vocab = new Vocabulary(Arrays.asList(tokens));

    JsonNode normalizerNode = required(root, "normalizer", where);
    requireType(normalizerNode, "BertNormalizer", where + " normalizer");
    boolean lowercase = normalizerNode.path("lowercase").asBoolean(true);
    JsonNode strip = normalizerNode.path("strip_accents");
    BertNormalizer normalizer = new BertNormalizer(
        normalizerNode.path("clean_text").asBoolean(true),
        normalizerNode.path("handle_chinese_chars").asBoolean(true),
        strip.isBoolean() ? strip.asBoolean() : lowercase, // null means "same as lowercase"
        lowercase);
    requireType(required(root, "pre_tokenizer", where), "BertPreTokenizer", where + " pre_tokenizer");
    JsonNode post = root.path("post_processor");
    if (!post.isNull() && !post.isMissingNode()) {
      String type = post.path("type").asText();
      if (!type.equals("TemplateProcessing") && !type.equals("BertProcessing")) {
        throw new IllegalArgumentException(where + ": post_processor type " + type + " is not supported; expected "
            + "BertProcessing or TemplateProcessing ([CLS] A [SEP] B [SEP])");
      }
    }

    List<String> special = new ArrayList<>();
    for (JsonNode added : root.path("added_tokens")) {
      String content = added.path("content").asText();
      if (!added.path("special").asBoolean(false)) {
        throw new IllegalArgumentException(where + ": added token '" + content + "' is not special; only special "
            + "added tokens (matched in the raw text) are supported");
      }
      if (vocab.id(content) != added.path("id").asInt(-1)) {
        throw new IllegalArgumentException(where + ": added token '" + content + "' has id " + added.path("id")
            + " but the vocabulary gives it " + vocab.id(content));
      }
      special.add(content);
    }
    return assemble(new TokenizerSpec(Arrays.asList(tokens), normalizer, model.path("unk_token").asText("[UNK]"),
        model.path("continuing_subword_prefix").asText("##"),
        model.path("max_input_chars_per_word").asInt(WordPiece.DEFAULT_MAX_INPUT_CHARS_PER_WORD), special), where);
  }

  static BertWordPieceTokenizer assemble(TokenizerSpec spec, String where) {
    Vocabulary vocab = new Vocabulary(spec.tokens());
    int cls = vocab.id("[CLS]");
    int sep = vocab.id("[SEP]");
    if (cls < 0 || sep < 0) {
      throw new IllegalArgumentException(where + " has no " + (cls < 0 ? "[CLS]" : "[SEP]") + " token; a BERT "
          + "vocabulary needs [PAD], [UNK], [CLS], [SEP] and [MASK]");
    }
    try {
      return new BertWordPieceTokenizer(spec, vocab, new WordPiece(vocab, spec.unkToken(),
          spec.continuingSubwordPrefix(), spec.maxInputCharsPerWord()), new BertPostProcessor(cls, sep));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
    }
  }

  private static JsonNode required(JsonNode node, String field, String where) {
    JsonNode child = node.path(field);
    if (child.isMissingNode() || child.isNull()) {
      throw new IllegalArgumentException(where + " has no '" + field + "'");
    }
    return child;
  }

  private static void requireType(JsonNode node, String type, String where) {
    String actual = node.path("type").asText();
    if (!actual.equals(type)) {
      throw new IllegalArgumentException(where + " has type '" + actual + "'; only " + type + " is supported");
    }
  }

}
