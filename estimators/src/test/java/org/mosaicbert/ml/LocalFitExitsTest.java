package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.tokenizer.TokenizerLoader;

/**
 * A Java program that fits in Spark local mode ends when its {@code main} returns after {@code spark.stop()}: no
 * thread the fit started (Spark's barrier tasks run inside the driver's JVM here) keeps the JVM alive. The program
 * runs in a JVM of its own, as a user's scheduled job would.
 */
class LocalFitExitsTest {
  /** Far more than the program needs (a Spark session, two fits of two steps), so only a JVM that hangs fails. */
  private static final long EXIT_TIMEOUT_SECONDS = 120;

  /** How long after {@code spark.stop()} the program prints the threads still alive, should it not have ended. */
  private static final long THREAD_DUMP_AFTER_SECONDS = 30;

  @TempDir Path tmp;

  @Test
  void aProgramThatFitsInLocalModeEndsWhenMainReturns() throws Exception {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
        .toString()));
    // Spark's Java 17 flags, as this JVM got them from the POM.
    ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("--add-opens") || a.startsWith("-XX:+Ignore") || a.startsWith("-Djdk.reflect."))
        .forEach(command::add);
    command.addAll(List.of("-Xmx1g", "-cp", System.getProperty("java.class.path"), FitThenReturn.class.getName(),
        tmp.toString()));
    Path output = tmp.resolve("output.txt");
    Process program = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
    boolean ended;
    try {
      ended = program.waitFor(EXIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } finally {
      program.destroyForcibly();
    }
    String printed = Files.readString(output);
    if (!ended) {
      fail("the program was still running " + EXIT_TIMEOUT_SECONDS + " s after it started; its output ends with:\n"
          + tail(printed));
    }
    assertEquals(0, program.exitValue(), tail(printed));
    assertTrue(printed.contains(FitThenReturn.FITTED), "both fits ran: " + tail(printed));
  }

  private static String tail(String text) {
    return text.length() <= 12_000 ? text : text.substring(text.length() - 12_000);
  }

  /**
   * The program: two tiny pretraining fits (the second as a later job of a long-lived JVM would run it) on two
   * barrier tasks in local mode, {@code spark.stop()}, and {@code main} returns. The data needs no files: a
   * vocabulary of the special tokens and 59 words, and rows of their ids.
   */
  static final class FitThenReturn {
    static final String FITTED = "both fits done";

    public static void main(String[] args) throws IOException {
      Path dir = Path.of(args[0]);
      List<String> tokens = new ArrayList<>(TokenizerLoader.BERT_SPECIAL_TOKENS);
      for (int i = 0; tokens.size() < 64; i++) {
        tokens.add("word" + i);
      }
      Path vocab = Files.write(dir.resolve("vocab.txt"), tokens);
      int cls = tokens.indexOf("[CLS]");
      int sep = tokens.indexOf("[SEP]");
      int firstWord = TokenizerLoader.BERT_SPECIAL_TOKENS.size();
      SparkSession spark = SparkSession.builder().master("local[2]").appName("local-fit-exits")
          .config("spark.ui.enabled", "false").config("spark.barrier.sync.timeout", "60")
          .config("spark.driver.host", "127.0.0.1")
          .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
      List<Row> rows = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        List<Integer> ids = new ArrayList<>(List.of(cls));
        for (int j = 0; j < 12; j++) {
          ids.add(firstWord + (i * 7 + j * 3) % (tokens.size() - firstWord));
        }
        ids.add(sep);
        rows.add(RowFactory.create((long) i, ids));
      }
      Dataset<Row> data = spark.createDataFrame(rows, new StructType().add("sample_id", DataTypes.LongType)
          .add("input_ids", DataTypes.createArrayType(DataTypes.IntegerType)));
      for (int fit = 0; fit < 2; fit++) {
        new MosaicBertEstimator().setVocab(vocab.toString()).setModelConfig("tiny").setNumWorkers(2)
            .setGlobalBatchSize(4).setMicroBatchSize(2).setMaxSteps(2).setRingTimeoutSeconds(20).fit(data);
      }
      System.out.println(FITTED);
      spark.stop();
      Thread dump = new Thread(() -> {
        try {
          Thread.sleep(TimeUnit.SECONDS.toMillis(THREAD_DUMP_AFTER_SECONDS));
        } catch (InterruptedException e) {
          return;
        }
        System.out.println("still alive " + THREAD_DUMP_AFTER_SECONDS + " s after spark.stop(); non-daemon threads:");
        for (Map.Entry<Thread, StackTraceElement[]> t : Thread.getAllStackTraces().entrySet()) {
          if (!t.getKey().isDaemon()) {
            System.out.println("\"" + t.getKey().getName() + "\" " + t.getKey().getState());
            for (StackTraceElement frame : t.getValue()) {
              System.out.println("\tat " + frame);
            }
          }
        }
        System.out.flush();
      }, "thread-dump-if-alive");
      dump.setDaemon(true); // it must not keep the JVM alive itself
      dump.start();
    }
  }
}
