package org.mosaicbert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.mosaicbert.ml.ModelFolder;

/**
 * {@code export}: one of our model folders as a Hugging Face folder, so that the upstream MosaicBERT code
 * ({@code bert_layers.py} of mosaicml/examples, {@code BertForMaskedLM} or {@code BertForSequenceClassification})
 * and {@code BertTokenizer} load it. Our folders already use the upstream tensor names and config keys, so this is
 * {@link ModelFolder#writeLocal} plus the tokenizer files, written to a temporary folder and renamed into place.
 */
final class ExportCommand implements Subcommand {
  @Override
  public String name() {
    return "export";
  }

  @Override
  public String summary() {
    return "write a model folder as a Hugging Face folder (upstream MosaicBERT names)";
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert export --model DIR --out HF_DIR [--overwrite]

        Reads the model folder DIR (pretrain's or glue's output, or import's) and writes HF_DIR: config.json
        (mosaic-bert-base keys, architectures, id2label/label2id for a classifier; no auto_map, so give the upstream
        bert_layers.py yourself), model.safetensors (F32, upstream Hugging Face names, the decoder weight tied to the
        word embeddings and not stored), vocab.txt, tokenizer_config.json (BertTokenizer with the model's own
        do_lower_case, strip_accents and tokenize_chinese_chars) and special_tokens_map.json. HF_DIR appears
        complete or not at all.

          --model DIR     a model folder (any store Spark reads)
          --out HF_DIR    the local folder to write; it must not exist or be empty
          --overwrite     replace HF_DIR when it exists and is not empty
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws IOException {
    Args args = Args.parse(name(), argv, Set.of("model", "out"), Set.of("overwrite"));
    String model = args.requiredString("model");
    Path target = args.path("out").toAbsolutePath().normalize();
    checkTarget(target, args.has("overwrite"), "--out");
    ModelFolder folder = ModelFolder.read(model, new Configuration());
    writeAtomically(target, dir -> {
      folder.writeLocal(dir);
      writeSpecialTokensMap(dir, folder);
    });
    out.printf("exported %s to %s: %s, %d vocabulary entries, %s%n", model, target,
        folder.configJson().get("architectures").get(0).asText(), folder.vocab().size(),
        folder.normalizer().lowercase() ? "uncased" : "cased");
    return 0;
  }

  /** {@code special_tokens_map.json}: the folder's tokenizer_config.json holds the same tokens. */
  private static void writeSpecialTokensMap(Path dir, ModelFolder folder) throws IOException {
    Files.write(dir.resolve("special_tokens_map.json"), new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
        .writeValueAsBytes(folder.specialTokens()));
  }

  /** Writes one folder's files. */
  interface FolderWriter {
    void write(Path dir) throws IOException;
  }

  /**
   * Refuses a target that exists as a file, or as a non-empty folder without {@code overwrite}: before any work,
   * so a mistake costs nothing.
   */
  static void checkTarget(Path target, boolean overwrite, String flag) throws IOException {
    if (Files.exists(target) && !Files.isDirectory(target)) {
      throw new IllegalArgumentException(flag + " " + target + " is a file, not a folder; give a folder path");
    }
    if (!overwrite && Files.isDirectory(target) && !isEmpty(target)) {
      throw new IllegalArgumentException(flag + " " + target + " exists and is not empty; give --overwrite to "
          + "replace it, or another path");
    }
  }

  /**
   * Writes a folder into a temporary sibling of {@code target}, then renames it into place (replacing what was
   * there): a failure leaves the target as it was and no temporary folder behind.
   */
  static void writeAtomically(Path target, FolderWriter writer) throws IOException {
    Files.createDirectories(target.getParent());
    Path tmp = Files.createTempDirectory(target.getParent(), "." + target.getFileName() + ".tmp-");
    try {
      writer.write(tmp);
      if (Files.exists(target)) {
        deleteRecursively(target);
      }
      Files.move(tmp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } finally {
      if (Files.exists(tmp)) {
        deleteRecursively(tmp);
      }
    }
  }

  private static boolean isEmpty(Path dir) throws IOException {
    try (Stream<Path> entries = Files.list(dir)) {
      return entries.findAny().isEmpty();
    }
  }

  static void deleteRecursively(Path path) throws IOException {
    List<Path> all;
    try (Stream<Path> walk = Files.walk(path)) {
      all = walk.sorted(Comparator.reverseOrder()).toList();
    }
    for (Path p : all) {
      Files.delete(p);
    }
  }
}
