package org.mosaicbert.cli;

import java.util.Map;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The flags that stand for a library's options on the command line. The library's errors name its options as a Java
 * or Scala caller wrote them; a command runs its library calls through {@link #call}, so that its user reads the
 * flags they typed instead.
 */
final class OptionFlags {
  /** The options of {@code TokenizeJob.Options} and {@code TrainVocabJob.train} that tokenize and train-vocab take. */
  static final OptionFlags PREPROCESSING = new OptionFlags(Map.of("maxSeqLen", "--max-seq-len", "textColumn",
      "--text-column", "rowsPerShard", "--rows-per-shard", "skipBadRecords", "--skip-bad-records", "vocabSize",
      "--vocab-size"));
  /** {@code CorpusFormat.parseOrAuto}, the parser of {@code --format}. */
  static final OptionFlags CORPUS_FORMAT = new OptionFlags(Map.of("format", "--format"));

  private final Map<String, String> flagOfOption;
  private final Pattern options;

  private OptionFlags(Map<String, String> flagOfOption) {
    this.flagOfOption = flagOfOption;
    this.options = Pattern.compile("\\b(" + String.join("|", flagOfOption.keySet().stream().map(Pattern::quote)
        .toList()) + ")\\b");
  }

  /** Runs a library call; its {@link IllegalArgumentException} comes back with the options it names as flags. */
  <T> T call(Supplier<T> call) {
    try {
      return call.get();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(reword(e.getMessage()), e);
    }
  }

  /** {@code message} with each option named (a whole word) replaced by its flag. */
  String reword(String message) {
    return message == null ? null
        : options.matcher(message).replaceAll(m -> Matcher.quoteReplacement(flagOfOption.get(m.group(1))));
  }
}
