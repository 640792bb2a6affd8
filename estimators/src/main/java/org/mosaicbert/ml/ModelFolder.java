package org.mosaicbert.ml;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.ml.util.Identifiable$;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.data.LiteralPaths;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.TokenizerConfig;

/**
 * A model folder, flat and Hugging Face-like: {@code config.json}, {@code model.safetensors} (F32, Hugging Face
 * names, the tied decoder weight not stored twice), {@code vocab.txt} and {@code tokenizer_config.json} (how the
 * model's texts are tokenized, under {@code BertTokenizer}'s keys: every later use tokenizes as the model was
 * trained); Spark adds {@code metadata/}. Written locally and copied through the Hadoop FileSystem, so any store Spark
 * can write works.
 *
 * @param normalizer the tokenizer's normalizer: cased or uncased, accents, CJK splitting
 * @param trainedSeqLen the sequence length the model was trained at (the longest of its pretraining and
 *     fine-tuning), kept as {@code tokenizer_config.json}'s {@code model_max_length}
 */
public record ModelFolder(ModelConfig config, ParameterLayout.Heads heads, float[] parameters, List<String> vocab,
    BertNormalizer normalizer, int trainedSeqLen) implements java.io.Serializable {
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";
  public static final String VOCAB = "vocab.txt";
  public static final String TOKENIZER_CONFIG = TokenizerConfig.FILE_NAME;

  public ModelFolder {
    if (vocab.size() > config.vocabSize()) {
      throw new IllegalArgumentException("a vocabulary of " + vocab.size() + " tokens does not fit a model of "
          + "vocab_size " + config.vocabSize() + ": its last ids would be past the embedding table; give the model its "
          + "own vocabulary");
    }
    if (trainedSeqLen < 1) {
      throw new IllegalArgumentException("trainedSeqLen = " + trainedSeqLen + ": give the sequence length the model "
          + "was trained at (at least 1)");
    }
  }

  /**
   * A folder whose training length nobody recorded: {@code alibi_starting_size}, the length MosaicBERT's ALiBi table
   * is built for and what {@code model_max_length} said before folders recorded the length trained at.
   */
  public ModelFolder(ModelConfig config, ParameterLayout.Heads heads, float[] parameters, List<String> vocab,
      BertNormalizer normalizer) {
    this(config, heads, parameters, vocab, normalizer, config.alibiStartingSize());
  }

  /**
   * Writes the folder's files into {@code path} through the Hadoop file system, by way of a local staging copy named
   * after the output ({@link Leftovers#stagingPrefix}: the output's next run removes one that a kill left behind).
   */
  public void write(String path, Configuration conf) throws IOException {
    org.apache.hadoop.fs.Path target = LiteralPaths.of(path);
    FileSystem fs = target.getFileSystem(conf);
    Path local = Files.createTempDirectory(Leftovers.stagingPrefix(fs.makeQualified(target)));
    try {
      writeLocal(local);
      fs.mkdirs(target);
      for (String name : FILES) {
        fs.copyFromLocalFile(true, true, new org.apache.hadoop.fs.Path(local.resolve(name).toUri()),
            new org.apache.hadoop.fs.Path(target, name));
      }
    } finally {
      deleteLocal(local);
    }
  }

  /** A model folder's own files (Spark's metadata/ aside). */
  private static final List<String> FILES = List.of(CONFIG, WEIGHTS, VOCAB, TOKENIZER_CONFIG);

  private static void deleteLocal(Path folder) throws IOException {
    for (String name : FILES) {
      Files.deleteIfExists(folder.resolve(name));
    }
    Files.deleteIfExists(folder);
  }

  /**
   * Runs {@code read} on a local folder holding {@code names} of the model folder at {@code path}: the folder itself
   * when it is on the local disk, else a copy deleted afterwards whatever happens (a failed load used to leave a full
   * copy of the model behind).
   */
  private static <T> T withLocal(String path, Configuration conf, List<String> names, LocalRead<T> read)
      throws IOException {
    org.apache.hadoop.fs.Path source = LiteralPaths.of(path);
    FileSystem fs = source.getFileSystem(conf);
    for (String name : names) {
      if (!fs.exists(new org.apache.hadoop.fs.Path(source, name))) {
        throw new IllegalArgumentException(path + " is not a model folder: it has no " + name);
      }
    }
    if (fs instanceof org.apache.hadoop.fs.LocalFileSystem) {
      return read.apply(Path.of(fs.makeQualified(source).toUri()), fs, source);
    }
    Path local = Files.createTempDirectory("mosaicbert-model");
    try {
      for (String name : names) {
        fs.copyToLocalFile(false, new org.apache.hadoop.fs.Path(source, name),
            new org.apache.hadoop.fs.Path(local.resolve(name).toUri()), true);
      }
      return read.apply(local, fs, source);
    } finally {
      deleteLocal(local);
    }
  }

  private interface LocalRead<T> {
    T apply(Path local, FileSystem fs, org.apache.hadoop.fs.Path source) throws IOException;
  }

  /**
   * Writes {@code config.json}, {@code model.safetensors}, {@code vocab.txt} and {@code tokenizer_config.json} into
   * a local folder that exists: the part of a model folder that Hugging Face reads too ({@code export} adds
   * {@code special_tokens_map.json}).
   */
  public void writeLocal(Path dir) throws IOException {
    ModelWeights.save(new ParameterLayout(config, heads), parameters, dir.resolve(WEIGHTS), Map.of());
    Files.write(dir.resolve(CONFIG), new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
        .writeValueAsBytes(configJson()));
    Files.write(dir.resolve(VOCAB), vocab, StandardCharsets.UTF_8);
    Files.write(dir.resolve(TOKENIZER_CONFIG), new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
        .writeValueAsBytes(tokenizerConfigJson()));
  }

  /**
   * The {@code tokenizer_config.json}: {@code BertTokenizer} with this model's normalizer flags and special tokens.
   * {@code model_max_length} is the length the model was trained at, not {@code max_position_embeddings}: MosaicBERT
   * has no position embeddings, so the latter bounds nothing (a key kept from BERT's config). Longer inputs run (ALiBi
   * extrapolates) but are untrained; Hugging Face's tokenizer cuts at this length when asked to truncate.
   */
  public ObjectNode tokenizerConfigJson() {
    ObjectNode json = new ObjectMapper().createObjectNode();
    json.put("tokenizer_class", "BertTokenizer");
    TokenizerConfig.putFlags(json, normalizer);
    json.put("model_max_length", trainedSeqLen);
    specialTokens().forEach(json::put);
    return json;
  }

  /**
   * BERT's special tokens by the names {@code tokenizer_config.json} gives them, only those the vocabulary has:
   * {@code BertTokenizer} would append a missing one as a new id the model lacks.
   */
  public Map<String, String> specialTokens() {
    Map<String, String> specials = new LinkedHashMap<>();
    for (String[] special : new String[][] {{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"},
        {"cls_token", "[CLS]"}, {"mask_token", "[MASK]"}}) {
      if (vocab.contains(special[1])) {
        specials.put(special[0], special[1]);
      }
    }
    return specials;
  }

  /**
   * The {@code config.json}: the config's keys, {@code architectures} from the heads, and for a classifier the
   * {@code id2label} / {@code label2id}: its class names, or the placeholders Hugging Face writes ({@code LABEL_0},
   * ...) so that HF's {@code num_labels} agrees with {@code classifier.weight}.
   */
  public ObjectNode configJson() {
    boolean classifier = heads != ParameterLayout.Heads.MLM;
    ObjectNode json = config.toJson(List.of(classifier ? "BertForSequenceClassification" : "BertForMaskedLM"));
    if (classifier && config.labels() == null) {
      ObjectNode id2label = json.putObject("id2label");
      ObjectNode label2id = json.putObject("label2id");
      for (int i = 0; i < config.numLabels(); i++) {
        id2label.put(Integer.toString(i), "LABEL_" + i);
        label2id.put("LABEL_" + i, i);
      }
    }
    return json;
  }

  /**
   * This folder as a fitted {@link MosaicBertModel} with default params and a fresh uid: for scoring a folder that
   * has no Spark {@code metadata/}, or for saving it with that metadata as {@code pretrain}'s output is saved.
   */
  public MosaicBertModel toModel() {
    return new MosaicBertModel(Identifiable$.MODULE$.randomUID("mosaicbert"), this);
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
      return withLocal(path, conf, List.of(CONFIG, WEIGHTS, VOCAB), (local, fs, source) -> {
        ModelConfig own = ModelConfig.read(local.resolve(CONFIG));
        ModelConfig config = target != null ? target : own;
        org.mosaicbert.io.SafeTensors header = org.mosaicbert.io.SafeTensors.open(local.resolve(WEIGHTS));
        boolean hasClassifier = header.has("classifier.weight") || header.has("model.classifier.weight");
        ParameterLayout.Heads layout = heads != null ? heads
            : hasClassifier ? ParameterLayout.Heads.CLASSIFIER : ParameterLayout.Heads.MLM;
        List<String> vocab = readVocab(local.resolve(VOCAB), new org.apache.hadoop.fs.Path(source, VOCAB).toString(),
            config.vocabSize());
        byte[] tokenizerConfig = readTokenizerConfig(fs, source);
        String where = new org.apache.hadoop.fs.Path(source, TOKENIZER_CONFIG).toString();
        // A folder written before model folders kept a tokenizer_config.json is uncased (every model was then), and
        // its training length unrecorded.
        BertNormalizer normalizer = tokenizerConfig == null ? BertNormalizer.uncased()
            : TokenizerConfig.parse(tokenizerConfig, where);
        int trainedSeqLen = tokenizerConfig == null ? own.alibiStartingSize()
            : TokenizerConfig.modelMaxLength(tokenizerConfig, where, own.alibiStartingSize());
        float[] params = ModelWeights.load(new ParameterLayout(config, layout), config, local.resolve(WEIGHTS), seed,
            own.numLabels() != config.numLabels()).values();
        return new ModelFolder(config, layout, params, vocab, normalizer, trainedSeqLen);
      });
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the model folder " + path + ": " + e.getMessage(), e);
    }
  }

  /**
   * A model folder's {@code vocab.txt}: strict UTF-8, one token per line, the id of a token its line number from 0.
   * Refused, naming the line, unless it fits the model: no more lines than the embedding table's {@code vocab_size}
   * rows (a later line's id would read other parameters as an embedding), no token twice (the tokenizer would give
   * only its last id) and no empty line (a token no text gives; often a file cut or joined by hand).
   *
   * @param where the file as the user knows it, for messages
   */
  static List<String> readVocab(Path file, String where, int vocabSize) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(bytes);
    java.nio.CharBuffer text = java.nio.CharBuffer.allocate(bytes.length);
    java.nio.charset.CoderResult result = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
        .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT).decode(in, text, true);
    if (result.isError()) {
      throw new IllegalArgumentException(where + " line " + lineAt(bytes, in.position()) + ": invalid UTF-8; a "
          + "vocab.txt is UTF-8 text with one token per line");
    }
    List<String> tokens = text.flip().toString().lines().toList();
    if (tokens.size() > vocabSize) {
      throw new IllegalArgumentException(where + " has " + tokens.size() + " lines, more than the model's vocab_size "
          + "of " + vocabSize + " (config.json): line " + (vocabSize + 1) + " on would give ids past the embedding "
          + "table; use the vocab.txt the model was trained with");
    }
    Map<String, Integer> lineOf = new java.util.HashMap<>(tokens.size() * 2);
    for (int i = 0; i < tokens.size(); i++) {
      String token = tokens.get(i);
      if (token.isEmpty()) {
        throw new IllegalArgumentException(where + " line " + (i + 1) + " is empty: a vocab.txt holds one token on "
            + "every line; use the vocab.txt the model was trained with");
      }
      Integer first = lineOf.putIfAbsent(token, i + 1);
      if (first != null) {
        throw new IllegalArgumentException(where + " line " + (i + 1) + ": the token '" + token + "' is also on line "
            + first + ", so one of its ids could never be given; use the vocab.txt the model was trained with");
      }
    }
    return tokens;
  }

  /** The line, from 1, that holds byte {@code offset}. */
  private static long lineAt(byte[] bytes, int offset) {
    long line = 1;
    for (int i = 0; i < offset; i++) {
      line += bytes[i] == '\n' ? 1 : 0;
    }
    return line;
  }

  /** The config.json of a model folder. */
  public static ModelConfig readConfig(String path, Configuration conf) {
    try {
      return withLocal(path, conf, List.of(CONFIG), (local, fs, source) -> ModelConfig.read(local.resolve(CONFIG)));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + path + "/" + CONFIG + ": " + e.getMessage(), e);
    }
  }

  /**
   * The length a model folder was trained at: its {@code tokenizer_config.json}'s {@code model_max_length}, or for a
   * folder that recorded none its {@code alibi_starting_size}.
   */
  public static int readTrainedSeqLen(String path, Configuration conf) {
    ModelConfig own = readConfig(path, conf);
    org.apache.hadoop.fs.Path dir = LiteralPaths.of(path);
    try {
      byte[] json = readTokenizerConfig(dir.getFileSystem(conf), dir);
      return json == null ? own.alibiStartingSize() : TokenizerConfig.modelMaxLength(json,
          new org.apache.hadoop.fs.Path(dir, TOKENIZER_CONFIG).toString(), own.alibiStartingSize());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + path + "/" + TOKENIZER_CONFIG + ": " + e.getMessage(), e);
    }
  }

  /** How a model folder's texts are tokenized: its {@code tokenizer_config.json}. */
  public static BertNormalizer readNormalizer(String path, Configuration conf) {
    org.apache.hadoop.fs.Path dir = LiteralPaths.of(path);
    try {
      return readNormalizer(dir.getFileSystem(conf), dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + path + "/" + TOKENIZER_CONFIG + ": " + e.getMessage(), e);
    }
  }

  /** A folder written before model folders kept a tokenizer_config.json is uncased: every model was then. */
  private static BertNormalizer readNormalizer(FileSystem fs, org.apache.hadoop.fs.Path dir) throws IOException {
    byte[] json = readTokenizerConfig(fs, dir);
    return json == null ? BertNormalizer.uncased()
        : TokenizerConfig.parse(json, new org.apache.hadoop.fs.Path(dir, TOKENIZER_CONFIG).toString());
  }

  /** The folder's tokenizer_config.json, or null when it has none. */
  private static byte[] readTokenizerConfig(FileSystem fs, org.apache.hadoop.fs.Path dir) throws IOException {
    org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(dir, TOKENIZER_CONFIG);
    if (!fs.exists(file)) {
      return null;
    }
    try (java.io.InputStream in = fs.open(file)) {
      return in.readAllBytes();
    }
  }

}
