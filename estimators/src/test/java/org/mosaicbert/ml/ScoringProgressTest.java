package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mosaicbert.config.ModelConfig;
import org.mosaicbert.io.ModelWeights;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.tokenizer.BertNormalizer;

/**
 * Scoring logs its progress on the driver while the action that runs it goes on: rows done, rows/s and, with the
 * job's total, an ETA, ending at the total; and however many transforms run, one listener follows them.
 */
class ScoringProgressTest {
  private static final int ROWS = 2000;
  private static final Pattern LINE = Pattern.compile("scoring \\(Spark job (\\d+)\\): (\\d+)(/(\\d+))? rows"
      + "(  (\\d+) rows/s(  ETA (\\d+) s)?| in [0-9.]+ s, (\\d+) rows/s)");

  private static SparkSession spark;
  private static MosaicBertModel model;
  private static Dataset<Row> texts;
  private static final Lines LINES = new Lines();

  /** The messages ScoringProgress logs. */
  private static final class Lines extends AbstractAppender {
    final List<String> messages = Collections.synchronizedList(new ArrayList<>());

    Lines() {
      super("scoring-progress-test", null, null, true, Property.EMPTY_ARRAY);
    }

    @Override
    public void append(LogEvent event) {
      messages.add(event.getMessage().getFormattedMessage());
    }
  }

  @BeforeAll
  static void start() {
    // Read when the context's listener is added, by the first transform below; heartbeats bring running tasks'
    // counts every 50 ms.
    System.setProperty(ScoringProgress.SECONDS_PROPERTY, "0.1");
    spark = SparkSession.builder().master("local[2]").appName("scoring-progress-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1").config("spark.executor.heartbeatInterval", "50ms")
        .getOrCreate();
    List<String> vocab = new ArrayList<>(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"));
    for (int i = 0; vocab.size() < 128; i++) {
      vocab.add("w" + i);
    }
    ModelConfig config = ModelConfig.preset("tiny", vocab.size());
    ParameterLayout layout = new ParameterLayout(config, ParameterLayout.Heads.MLM);
    model = new ModelFolder(config, ParameterLayout.Heads.MLM, ModelWeights.initial(layout, config, 3), vocab,
        BertNormalizer.uncased()).toModel().setTextCol("text").setBatchSize(4).setThreadsPerWorker(1);
    List<Row> rows = new ArrayList<>();
    for (int r = 0; r < ROWS; r++) {
      StringBuilder text = new StringBuilder();
      for (int w = 0; w < 64; w++) {
        text.append(" w").append((r * 7 + w * 13) % 123);
      }
      rows.add(RowFactory.create(text.toString().strip()));
    }
    texts = spark.createDataFrame(rows, new StructType().add("text", DataTypes.StringType)).repartition(2);
    LoggerContext context = LoggerContext.getContext(false);
    LINES.start();
    context.getConfiguration().addLoggerAppender(context.getLogger(ScoringProgress.class.getName()), LINES);
  }

  @AfterAll
  static void stop() {
    LoggerContext context = LoggerContext.getContext(false);
    context.getConfiguration().getLoggerConfig(ScoringProgress.class.getName()).removeAppender(LINES.getName());
    LINES.stop();
    spark.stop();
    System.clearProperty(ScoringProgress.SECONDS_PROPERTY);
  }

  @BeforeEach
  void forgetLines() {
    LINES.messages.clear();
  }

  /** Runs the scoring of every row (the noop sink writes nothing) and waits for the listeners to hear all of it. */
  private static void scoreAll(Dataset<Row> scored) throws Exception {
    scored.write().format("noop").mode("overwrite").save();
    spark.sparkContext().listenerBus().waitUntilEmpty();
  }

  private static List<Matcher> progressLines() {
    List<Matcher> out = new ArrayList<>();
    synchronized (LINES.messages) {
      for (String message : LINES.messages) {
        Matcher m = LINE.matcher(message);
        assertTrue(m.matches(), "a progress line: " + message);
        out.add(m);
      }
    }
    return out;
  }

  @Test
  void withTheTotalTheLinesSayRowsDoneRowsPerSecondAndAnEtaAndEndAtTheTotal() throws Exception {
    spark.sparkContext().setLocalProperty(ScoringProgress.TOTAL_ROWS, String.valueOf(ROWS));
    try {
      scoreAll(model.transform(texts));
    } finally {
      spark.sparkContext().setLocalProperty(ScoringProgress.TOTAL_ROWS, null);
    }
    List<Matcher> lines = progressLines();
    assertTrue(lines.size() >= 2, "lines while scoring, then the last one: " + LINES.messages);
    long before = 0;
    for (Matcher m : lines.subList(0, lines.size() - 1)) {
      long done = Long.parseLong(m.group(2));
      assertEquals(String.valueOf(ROWS), m.group(4), m.group());
      assertTrue(done > before && done <= ROWS, "rows done grow while the job runs: " + LINES.messages);
      assertTrue(m.group(6) != null && Long.parseLong(m.group(6)) > 0 && m.group(8) != null, m.group());
      before = done;
    }
    assertTrue(Long.parseLong(lines.get(0).group(2)) < ROWS, "a line while scoring: " + LINES.messages);
    Matcher last = lines.get(lines.size() - 1);
    assertEquals(ROWS + "/" + ROWS, last.group(2) + "/" + last.group(4), last.group());
    assertTrue(last.group(9) != null && Long.parseLong(last.group(9)) > 0, last.group());
  }

  @Test
  void withoutTheTotalTheLinesSayRowsDoneAndRowsPerSecond() throws Exception {
    scoreAll(model.transform(texts));
    List<Matcher> lines = progressLines();
    assertTrue(lines.size() >= 2, "lines while scoring, then the last one: " + LINES.messages);
    for (Matcher m : lines) {
      assertEquals(null, m.group(4), "no total: " + m.group());
      assertEquals(null, m.group(8), "no ETA: " + m.group());
    }
    assertEquals(String.valueOf(ROWS), lines.get(lines.size() - 1).group(2));
    assertTrue(Long.parseLong(lines.get(0).group(2)) < ROWS, "a line while scoring: " + LINES.messages);
  }

  @Test
  void oneListenerFollowsEveryTransformAndForgetsEachJobWhenItEnds() throws Exception {
    for (int i = 0; i < 3; i++) {
      scoreAll(model.transform(texts.limit(8)));
    }
    List<ScoringProgress> listeners = spark.sparkContext().listenerBus().listeners().stream()
        .filter(l -> l instanceof ScoringProgress).map(l -> (ScoringProgress) l).toList();
    assertEquals(1, listeners.size(), "one listener for the context, however many transforms");
    assertEquals(0, listeners.get(0).jobsFollowed(), "the jobs ended: none is followed");
  }
}
