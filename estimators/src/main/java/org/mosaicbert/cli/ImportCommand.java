package org.mosaicbert.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.SafeTensors;
import org.mosaicbert.ml.ModelFolder;
import org.mosaicbert.model.ParameterLayout;

/**
 * {@code import}: a Hugging Face MosaicBERT folder (upstream names, as {@code export} writes or mosaicml publishes
 * after conversion to safetensors) as one of our model folders, with Spark's {@code metadata/} as {@code pretrain}
 * writes it, so that {@code MosaicBertModel.load}, {@code glue --model} and {@code initModel} all take it, cased or
 * uncased as its {@code tokenizer_config.json} says. It refuses what it could only import wrongly: pickles, a partial
 * checkpoint, an untied decoder.
 */
final class ImportCommand implements Subcommand {
  private static final String WORDS = "bert.embeddings.word_embeddings.weight";
  private static final String DECODER = "cls.predictions.decoder.weight";

  @Override
  public String name() {
    return "import";
  }

  @Override
  public String summary() {
    return "read a Hugging Face MosaicBERT folder (safetensors) into a model folder";
  }

  @Override
  public String help() {
    return OutputFolder.usage("import --hf HF_DIR") + """

        Reads HF_DIR: config.json, model.safetensors (F32, BF16 or F16; upstream MosaicBERT names of BertForMaskedLM
        or BertForSequenceClassification, with or without Composer's "model." prefix, the tied decoder weight stored
        or not), vocab.txt and, when there is one, tokenizer_config.json (do_lower_case, strip_accents,
        tokenize_chinese_chars; without one the model is uncased, as BertTokenizer's defaults say). Writes DIR as
        pretrain does (config.json, F32 model.safetensors, vocab.txt, tokenizer_config.json, Spark metadata/), for
        MosaicBertModel.load, glue --model and MosaicBertEstimator's initModel, which tokenize as the model was
        trained. A pytorch_model.bin is not read (unpickling runs code); convert it to safetensors first. DIR appears
        complete or not at all.

          --hf HF_DIR     the Hugging Face folder (local)
        """ + OutputFolder.HELP;
  }

  @Override
  public java.util.Map<String, String> renamedFlags() {
    return java.util.Map.of(OutputFolder.OLD_FLAG, OutputFolder.FLAG);
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws IOException {
    Args args = Args.parse(name(), argv, Set.of("hf", OutputFolder.FLAG), Set.of(OutputFolder.OVERWRITE));
    Path hf = args.path("hf");
    if (!Files.isDirectory(hf)) {
      throw new IllegalArgumentException("--hf " + hf + " is not a folder; give the Hugging Face model folder");
    }
    OutputFolder target = OutputFolder.of(args);
    Path weights = hf.resolve(ModelFolder.WEIGHTS);
    if (!Files.exists(weights)) {
      throw new IllegalArgumentException(missingWeights(hf));
    }
    for (String name : List.of(ModelFolder.CONFIG, ModelFolder.VOCAB)) {
      if (!Files.exists(hf.resolve(name))) {
        throw new IllegalArgumentException(hf + " has no " + name + (name.equals(ModelFolder.VOCAB)
            ? " (the WordPiece vocabulary, one token per line); write it in Python with "
            + "`BertTokenizer.from_pretrained(HF_DIR).save_vocabulary(HF_DIR)`" : ""));
      }
    }
    ModelConfig config = ModelConfig.read(hf.resolve(ModelFolder.CONFIG)); // refuses what the engine lacks (hidden_act)
    SafeTensors st = SafeTensors.open(weights);
    String prefix = st.entries().keySet().stream().allMatch(n -> n.startsWith("model.")) ? "model." : "";
    checkTiedDecoder(st, prefix);
    // The same choice of heads as ModelFolder.read: a classifier when the weights hold one.
    ParameterLayout.Heads heads = st.has(prefix + "classifier.weight") ? ParameterLayout.Heads.CLASSIFIER
        : ParameterLayout.Heads.MLM;
    ParameterLayout layout = new ParameterLayout(config, heads);
    List<String> missing = layout.tensors().stream().map(ParameterLayout.Tensor::name)
        .filter(n -> !st.has(prefix + n)).toList();
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException(weights + " lacks " + missing.size() + " tensor(s) that a "
          + (heads == ParameterLayout.Heads.MLM ? "BertForMaskedLM" : "BertForSequenceClassification")
          + " of its config.json has, such as " + missing.get(0) + "; import takes complete checkpoints only "
          + "(to start a classifier from an MLM checkpoint, import the MLM checkpoint and fine-tune it)");
    }
    Set<String> ignored = new TreeSet<>();
    for (String name : st.entries().keySet()) {
      String bare = name.substring(prefix.length());
      if (!layout.has(bare) && !bare.equals(DECODER)) {
        ignored.add(bare);
      }
    }
    Set<String> dtypes = new TreeSet<>();
    st.entries().values().forEach(e -> dtypes.add(e.dtype().name()));

    // Hadoop takes a path, not a URI string: a space would reach it as "%20" and name another folder.
    ModelFolder read = ModelFolder.read(hf.toAbsolutePath().toString(), new Configuration());
    // MosaicBERT pretrains and fine-tunes without attention dropout (the released config says 0.1, which upstream's
    // GLUE recipe sets to 0.0; it does nothing when scoring), and training here refuses it: the import sets it to 0.
    ModelFolder folder = config.attentionDropout() == 0 ? read : new ModelFolder(read.config()
        .withoutAttentionDropout(), read.heads(), read.parameters(), read.vocab(), read.normalizer(),
        read.trainedSeqLen());
    SparkSession spark = SubcommandSpark.submittedOrLocal(name());
    try {
      target.write(dir -> folder.toModel().write().overwrite().save(dir.toString()));
    } finally {
      spark.stop();
    }
    out.printf("imported %s to %s: %s, %d tensors (%s, stored as F32), %d vocabulary entries, %s%n", hf, target.path(),
        heads == ParameterLayout.Heads.MLM ? "BertForMaskedLM" : "BertForSequenceClassification with "
            + config.numLabels() + " label(s)", layout.tensors().size(), String.join("/", dtypes),
        folder.vocab().size(), folder.normalizer().lowercase() ? "uncased" : "cased");
    if (!ignored.isEmpty()) {
      out.println("not imported (this model has no such tensor): " + String.join(", ", ignored));
    }
    if (config.attentionDropout() > 0) {
      out.printf("attention_probs_dropout_prob: %s in %s, 0.0 in the import (MosaicBERT trains without attention "
          + "dropout; scoring is unaffected)%n", config.attentionDropout(), ModelFolder.CONFIG);
    }
    return 0;
  }

  private static String missingWeights(Path hf) {
    if (Files.exists(hf.resolve("pytorch_model.bin"))) {
      return hf + " has pytorch_model.bin but no model.safetensors. A .bin is a Python pickle, and unpickling it is "
          + "code execution, so it is not read. Convert it once in Python (torch and safetensors installed): "
          + "python -c \"import torch; from safetensors.torch import save_file; sd = torch.load('" + hf
          + "/pytorch_model.bin', weights_only=True); save_file({k: v.contiguous() for k, v in sd.items() "
          + "if not k.endswith('cls.predictions.decoder.weight')}, '" + hf + "/model.safetensors', metadata={'format': 'pt'})\"";
    }
    if (Files.exists(hf.resolve("model.safetensors.index.json"))) {
      return hf + " holds a sharded checkpoint (model.safetensors.index.json); merge the shards into one "
          + "model.safetensors first";
    }
    return hf + " has no model.safetensors; give a Hugging Face folder with its weights in safetensors";
  }

  /** A stored decoder weight must be the word embeddings: the model ties them, so a different one would be lost. */
  private static void checkTiedDecoder(SafeTensors st, String prefix) {
    if (st.has(prefix + DECODER) && st.has(prefix + WORDS)
        && !Arrays.equals(st.floats(prefix + DECODER), st.floats(prefix + WORDS))) {
      throw new IllegalArgumentException(st.file() + ": " + DECODER + " differs from " + WORDS + "; MosaicBERT "
          + "ties them (one tensor), so this checkpoint's MLM head cannot be imported as it is. Store the decoder "
          + "weight equal to the word embeddings, or leave it out");
    }
  }
}
