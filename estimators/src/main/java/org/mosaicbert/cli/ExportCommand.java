package org.mosaicbert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.mosaicbert.ml.ModelFolder;

/**
 * {@code export}: one of our model folders as a Hugging Face folder, so that the upstream MosaicBERT code
 * ({@code bert_layers.py} of mosaicml/examples, {@code BertForMaskedLM} or {@code BertForSequenceClassification})
 * and {@code BertTokenizer} load it. Our folders already use the upstream tensor names, config keys and tokenizer
 * settings, so this is {@link ModelFolder#writeLocal} plus {@code special_tokens_map.json}, written as an
 * {@link OutputFolder}.
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
    return OutputFolder.usage("export --model MODEL_DIR") + """

        Reads the model folder MODEL_DIR (pretrain's or glue's output, or import's) and writes DIR, a Hugging Face
        folder: config.json
        (mosaic-bert-base keys, architectures, id2label/label2id for a classifier; no auto_map, so give the upstream
        bert_layers.py yourself), model.safetensors (F32, upstream Hugging Face names, the decoder weight tied to the
        word embeddings and not stored), vocab.txt, tokenizer_config.json (BertTokenizer with the model's own
        do_lower_case, strip_accents and tokenize_chinese_chars, and model_max_length: the sequence length it was
        trained at, or alibi_starting_size for a folder that does not record it) and special_tokens_map.json. DIR
        appears complete or not at all.

          --model MODEL_DIR  a model folder (any store Spark reads)
        """ + OutputFolder.HELP;
  }

  @Override
  public java.util.Map<String, String> renamedFlags() {
    return java.util.Map.of(OutputFolder.OLD_FLAG, OutputFolder.FLAG);
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws IOException {
    Args args = Args.parse(name(), argv, Set.of("model", OutputFolder.FLAG), Set.of(OutputFolder.OVERWRITE));
    String model = args.requiredString("model");
    OutputFolder target = OutputFolder.of(args);
    ModelFolder folder = ModelFolder.read(model, new Configuration());
    target.write(dir -> {
      folder.writeLocal(dir);
      writeSpecialTokensMap(dir, folder);
    });
    out.printf("exported %s to %s: %s, %d vocabulary entries, %s, model_max_length %d%n", model, target.path(),
        folder.configJson().get("architectures").get(0).asText(), folder.vocab().size(),
        folder.normalizer().lowercase() ? "uncased" : "cased", folder.trainedSeqLen());
    return 0;
  }

  /** {@code special_tokens_map.json}: the folder's tokenizer_config.json holds the same tokens. */
  private static void writeSpecialTokensMap(Path dir, ModelFolder folder) throws IOException {
    Files.write(dir.resolve("special_tokens_map.json"), new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
        .writeValueAsBytes(folder.specialTokens()));
  }
}
