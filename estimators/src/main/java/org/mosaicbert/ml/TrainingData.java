package org.mosaicbert.ml;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.execution.datasources.LogicalRelation;
import org.apache.spark.sql.types.DataTypes;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.data.HadoopConf;
import org.mosaicbert.data.ShardManifest;
import org.mosaicbert.data.ShardSampleStream;
import org.mosaicbert.tokenizer.BertNormalizer;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.Encoding;
import org.mosaicbert.tokenizer.TokenizerSpec;
import org.mosaicbert.tokenizer.Vocabulary;
import org.mosaicbert.train.Sample;
import org.mosaicbert.train.SampleStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a fit trains on, prepared on the driver: the sample stream in the run's order, a bound on its samples' lengths
 * and, for fine-tuning, the classes of the labels. A DataFrame that is a plain read of a shard folder is read through
 * its manifest, each worker reading only the row groups of its slices; any other is collected here and travels to the
 * workers as a broadcast, so it must fit in memory (the default corpus, fine-tuning sets, samples of C4).
 *
 * @param longestSample no sample is longer: the longest collected, or the shards' tokenization ceiling
 * @param labels the classes of a fine-tuning set; null for pretraining
 */
record TrainingData(SampleStream stream, int longestSample, Labels labels) {
  private static final Logger LOG = LoggerFactory.getLogger(TrainingData.class);
  /** Row groups per shuffle window when reading shards through their manifest. */
  static final int SHARD_WINDOW = 8;

  /** The columns a fit reads; {@code text} empty means token ids from {@code inputIds}. */
  record Columns(String text, String textPair, String inputIds, String sampleId, String label) {}

  /**
   * The classes of a fine-tuning set: {@code count} outputs (1 for regression), named when the label column holds
   * strings ({@code names} sorted, null for numbers).
   */
  record Labels(List<String> names, int count) {
    /** The config of the model to train: its head sized (and named) for these labels. */
    ModelConfig applyTo(ModelConfig config) {
      return names != null ? config.withLabels(names) : config.withHead(count);
    }
  }

  long epochSize() {
    return stream.epochSize();
  }

  /**
   * Pretraining data: the shard folder's stream when {@code manifest} (from {@link #manifestOf}) is not null, after
   * checking that its vocabulary and sequence length match; else the token ids collected in their stable order.
   */
  static TrainingData pretraining(Dataset<?> df, ShardManifest manifest, Columns columns, Vocabulary vocabulary,
      String vocabPath, int vocabSize, int maxSeqLen, long seed, Configuration conf) {
    if (manifest == null) {
      List<Sample> samples = collectSamples(df.toDF(), columns.inputIds(), columns.sampleId(), vocabSize, maxSeqLen);
      return new TrainingData(SampleStream.inMemory(samples, seed), longest(samples), null);
    }
    if (!manifest.vocab().sha256().equals(vocabulary.sha256())) {
      throw new IllegalArgumentException("the shards were tokenized with another vocabulary (sha256 "
          + manifest.vocab().sha256() + ") than " + vocabPath + " (" + vocabulary.sha256() + "); use the shards' "
          + "vocab.txt");
    }
    if (manifest.maxSeqLen() > maxSeqLen) {
      throw new IllegalArgumentException("the shards hold samples of up to " + manifest.maxSeqLen() + " tokens, more "
          + "than maxSeqLen " + maxSeqLen);
    }
    String dir = new Path(df.inputFiles()[0]).getParent().toString();
    LOG.info("reading {} through its manifest: each worker reads only the row groups of its slices", dir);
    return new TrainingData(new ShardSampleStream(dir, manifest, HadoopConf.of(conf), seed, SHARD_WINDOW, vocabSize),
        manifest.maxSeqLen(), null);
  }

  /**
   * Fine-tuning data: labelled rows in row order, texts tokenized here as the model's were in training
   * ({@code normalizer}), every label checked against the classes.
   *
   * @param numLabels the classes asked for (0: from the data)
   */
  static TrainingData fineTuning(Dataset<?> df, TrainingObjective objective, Columns columns, int numLabels,
      Vocabulary vocabulary, BertNormalizer normalizer, int vocabSize, int maxSeqLen, long seed) {
    List<String> names = labelNames(df, columns.label(), objective, numLabels);
    List<Sample> samples = collectLabelled(df.toDF(), columns, names, vocabulary, normalizer, maxSeqLen, vocabSize);
    int count = objective == TrainingObjective.REGRESSION ? 1 : names != null ? names.size()
        : numLabels > 0 ? numLabels : Math.max(2, 1 + (int) samples.stream().mapToDouble(Sample::label).max().orElse(1));
    for (Sample sample : samples) {
      if (count > 1 && (sample.label() != Math.rint(sample.label()) || sample.label() < 0
          || sample.label() >= count)) {
        throw new IllegalArgumentException("sample " + sample.sampleId() + " has label " + sample.label()
            + ", not a class index in 0.." + (count - 1) + " (labelCol; or objective=regression)");
      }
    }
    return new TrainingData(SampleStream.inMemory(samples, seed), longest(samples), new Labels(names, count));
  }

  private static int longest(List<Sample> samples) {
    return samples.stream().mapToInt(s -> s.inputIds().length).max().orElse(1);
  }

  /**
   * The dataset in its stable order: by sample id when the column exists, else by row order (with generated ids).
   * Token ids are checked against the vocabulary.
   */
  static List<Sample> collectSamples(Dataset<Row> df, String idsCol, String sampleIdCol, int vocabSize,
      int maxSeqLen) {
    boolean hasIds = Arrays.asList(df.columns()).contains(sampleIdCol);
    List<Row> rows = hasIds ? df.select(sampleIdCol, idsCol).orderBy(sampleIdCol).collectAsList()
        : df.select(idsCol).collectAsList();
    List<Sample> samples = new ArrayList<>(rows.size());
    for (int i = 0; i < rows.size(); i++) {
      Row row = rows.get(i);
      long id = hasIds ? row.getLong(0) : i;
      List<Integer> list = row.getList(hasIds ? 1 : 0);
      if (list == null || list.isEmpty()) {
        throw new IllegalArgumentException("sample " + id + " has no token ids in column '" + idsCol + "'");
      }
      if (list.size() > maxSeqLen) {
        throw new IllegalArgumentException("sample " + id + " has " + list.size() + " tokens, more than maxSeqLen "
            + maxSeqLen + "; cut the samples shorter when tokenizing them, or raise maxSeqLen");
      }
      int[] ids = new int[list.size()];
      for (int p = 0; p < ids.length; p++) {
        Integer v = list.get(p);
        if (v == null || v < 0 || v >= vocabSize) {
          throw new IllegalArgumentException("sample " + id + " has token id " + v + " at position " + p
              + ", outside the vocabulary [0, " + vocabSize + "): the data and the vocabulary do not match");
        }
        ids[p] = v;
      }
      samples.add(new Sample(id, ids));
    }
    return nonEmpty(samples);
  }

  /**
   * A labelled dataset in row order: texts tokenized with the vocabulary ([CLS] a [SEP] b [SEP], truncated
   * longest-first to maxSeqLen), or token ids taken from the ids column when there is no text column. String labels
   * become their index in {@code labelNames} (null when the label column holds numbers).
   */
  static List<Sample> collectLabelled(Dataset<Row> df, Columns columns, List<String> labelNames,
      Vocabulary vocabulary, BertNormalizer normalizer, int maxSeqLen, int vocabSize) {
    boolean text = !columns.text().isEmpty();
    boolean pair = text && !columns.textPair().isEmpty();
    List<String> tokens = new ArrayList<>();
    for (int i = 0; i < vocabulary.size(); i++) {
      tokens.add(vocabulary.token(i));
    }
    BertWordPieceTokenizer tokenizer = TokenizerSpec.bert(tokens, normalizer).build();
    String labelCol = columns.label();
    List<Row> rows = (text ? pair ? df.select(columns.text(), columns.textPair(), labelCol)
        : df.select(columns.text(), labelCol) : df.select(columns.inputIds(), labelCol)).collectAsList();
    List<Sample> samples = new ArrayList<>(rows.size());
    for (int i = 0; i < rows.size(); i++) {
      Row row = rows.get(i);
      int labelIndex = row.size() - 1;
      if (row.isNullAt(labelIndex)) {
        throw new IllegalArgumentException("row " + i + " has no label in column '" + labelCol + "'");
      }
      float label = labelNames == null ? ((Number) row.get(labelIndex)).floatValue()
          : labelNames.indexOf(row.getString(labelIndex));
      if (text) {
        if (row.isNullAt(0)) {
          throw new IllegalArgumentException("row " + i + " has a null text in column '" + columns.text() + "'");
        }
        Encoding e = tokenizer.encode(row.getString(0), pair ? (row.isNullAt(1) ? "" : row.getString(1)) : null,
            maxSeqLen);
        samples.add(new Sample(i, e.ids(), e.typeIds(), label));
      } else {
        List<Integer> list = row.getList(0);
        int[] ids = list.stream().mapToInt(Integer::intValue).toArray();
        for (int id : ids) {
          if (id < 0 || id >= vocabSize) {
            throw new IllegalArgumentException("row " + i + " has token id " + id + ", outside the vocabulary");
          }
        }
        samples.add(new Sample(i, ids, null, label));
      }
    }
    return nonEmpty(samples);
  }

  private static List<Sample> nonEmpty(List<Sample> samples) {
    if (samples.isEmpty()) {
      throw new IllegalArgumentException("the dataset is empty: there is nothing to train on");
    }
    return samples;
  }

  /**
   * The class names when the label column holds strings: sorted, so the same data always gives the same class
   * indices (RTE's entailment = 0, not_entailment = 1, as GLUE numbers them); null for numeric labels.
   */
  static List<String> labelNames(Dataset<?> dataset, String label, TrainingObjective objective, int numLabels) {
    if (!dataset.schema().apply(label).dataType().equals(DataTypes.StringType)) {
      return null;
    }
    if (objective == TrainingObjective.REGRESSION) {
      throw new IllegalArgumentException("column '" + label + "' (labelCol) holds strings; regression needs numbers");
    }
    List<String> names = new ArrayList<>();
    for (Row row : dataset.select(label).distinct().collectAsList()) {
      if (row.isNullAt(0)) {
        throw new IllegalArgumentException("column '" + label + "' (labelCol) has null labels; drop or fill those "
            + "rows");
      }
      names.add(row.getString(0));
    }
    Collections.sort(names);
    if (names.size() < 2 || (numLabels > 0 && numLabels != names.size())) {
      throw new IllegalArgumentException("column '" + label + "' (labelCol) has " + names.size() + " distinct labels "
          + names + (numLabels > 0 ? " but numLabels is " + numLabels : "; a classifier needs at least 2"));
    }
    LOG.info("string labels, class index = position in {}", names);
    return names;
  }

  /**
   * The manifest of the shard folder a DataFrame reads, when the DataFrame is exactly a read of that folder's shards
   * (no filter, no projection of other sources); else null.
   */
  static ShardManifest manifestOf(Dataset<?> df, Configuration conf) {
    if (!(df.queryExecution().analyzed() instanceof LogicalRelation)) {
      return null;
    }
    String[] files = df.inputFiles();
    if (files.length == 0) {
      return null;
    }
    Path dir = new Path(files[0]).getParent();
    try {
      if (!dir.getFileSystem(conf).exists(new Path(dir, ShardManifest.FILE_NAME))) {
        return null;
      }
    } catch (IOException e) {
      return null;
    }
    ShardManifest manifest = ShardManifest.read(dir, conf);
    Set<String> read = new TreeSet<>();
    for (String f : files) {
      Path p = new Path(f);
      if (!p.getParent().equals(dir)) {
        return null;
      }
      read.add(p.getName());
    }
    Set<String> shards = new TreeSet<>();
    manifest.shards().forEach(s -> shards.add(s.path()));
    return read.equals(shards) ? manifest : null;
  }
}
