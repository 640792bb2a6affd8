package org.mosaicbert.notebooks;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import scala.collection.JavaConverters;
import scala.tools.nsc.Settings;
import scala.tools.nsc.interpreter.IMain;
import scala.tools.nsc.interpreter.Results;

/**
 * Runs Zeppelin notes the way Zeppelin's Spark interpreter does, without a Zeppelin server: {@code %spark}
 * paragraphs go to one Scala REPL (the line's {@link IMain}, which Spark's shell and Zeppelin's interpreter both wrap),
 * {@code %sql} paragraphs to {@code spark.sql}, {@code %md} is only rendered, so skipped.
 *
 * <p>The REPL is set up as Spark's {@code org.apache.spark.repl.Main} sets up its own: each line wrapped in classes,
 * not objects ({@code -Yrepl-class-based}: a closure then carries the wrapper instances it uses instead of
 * re-running a line's initializer on an executor), compiled into a folder that the session serves to executors
 * ({@code -Yrepl-outdir} and {@code spark.repl.class.outputDir}), the session bound as {@code @transient spark} and
 * {@code sc}, and the shell's imports. It compiles against {@code java.class.path} ({@code -usejavacp}),
 * which holds the project's classes because Surefire's manifest-only jar is turned off in the POM. There is no
 * ZeppelinContext ({@code z}): notes draw charts from {@code %sql} paragraphs instead.
 *
 * <p>A paragraph fails the run when the REPL answers Error or Incomplete, when its output holds a stack trace (code
 * that caught and printed an exception), when a statement of a {@code %sql} paragraph throws, or when a query returns
 * no rows (an empty table or chart). One runner is one Spark session and one REPL: a note per runner keeps notes
 * from leaning on each other's definitions.
 */
final class ZeppelinNoteRunner implements AutoCloseable {
  /** What Spark's shell imports at start-up (SparkILoop's initialization commands). */
  private static final List<String> SHELL_IMPORTS = List.of("import org.apache.spark.SparkContext._",
      "import spark.implicits._", "import spark.sql", "import org.apache.spark.sql.functions._");
  /** A line of a Java or Scala stack trace, or its "Caused by:". */
  private static final Pattern STACK_TRACE = Pattern.compile("(?m)^\\s*(at [\\w$.<>/]+\\(.*\\)|Caused by: .*)$");

  private final SparkSession spark;
  private final IMain repl;
  private final ByteArrayOutputStream output = new ByteArrayOutputStream();
  private final PrintStream console = new PrintStream(output, true, StandardCharsets.UTF_8);
  private final ClassLoader callerLoader = Thread.currentThread().getContextClassLoader();

  /** @param classDir an empty folder for the classes the REPL compiles */
  ZeppelinNoteRunner(Path classDir) {
    spark = SparkSession.builder().master("local[2]").appName("zeppelin-notes-test")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
        .config("spark.barrier.sync.timeout", "120").config("spark.stage.maxConsecutiveAttempts", "1")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.repl.class.outputDir", classDir.toString())
        .getOrCreate();
    try {
      repl = startRepl(classDir);
    } catch (RuntimeException | Error e) {
      spark.stop();
      throw e;
    }
  }

  private IMain startRepl(Path classDir) {
    Settings settings = new Settings();
    List<String> args = List.of("-Yrepl-class-based", "-Yrepl-outdir", classDir.toString(), "-usejavacp");
    if (!(Boolean) settings.processArguments(JavaConverters.asScalaBuffer(args).toList(), true)._1()) {
      throw new IllegalStateException("the Scala compiler refused the settings " + args);
    }
    IMain repl = ScalaRepl.start(settings, new PrintWriter(console, true));
    repl.setContextClassLoader(); // as Spark's shell does: Spark finds REPL classes through the context loader
    scala.collection.immutable.List<String> transientValue =
        JavaConverters.asScalaBuffer(List.of("@transient")).toList();
    expectSuccess("binding spark", repl.bind("spark", SparkSession.class.getName(), spark, transientValue));
    expectSuccess("binding sc", repl.bind("sc", SparkContext.class.getName(), spark.sparkContext(),
        transientValue));
    for (String line : SHELL_IMPORTS) {
      expectSuccess(line, repl.interpret(line));
    }
    output.reset();
    return repl;
  }

  private void expectSuccess(String what, Results.Result result) {
    if (result != Results.Success$.MODULE$) {
      throw new IllegalStateException(what + " in the Scala REPL: " + result + "\n" + output.toString(
          StandardCharsets.UTF_8));
    }
  }

  /** Runs every enabled paragraph in order; fails at the first broken one, naming the note and the paragraph. */
  void run(ZeppelinNote note) {
    for (ZeppelinNote.Paragraph p : note.paragraphs()) {
      if (!p.enabled()) {
        continue;
      }
      if (p.isScala()) {
        runScala(note, p);
      } else if (p.isSql()) {
        runSql(note, p);
      } else if (!p.isMarkdown()) {
        fail("note '" + note.name() + "', " + p.label() + ": this test runs %spark, %sql and %md paragraphs only");
      }
    }
  }

  private void runScala(ZeppelinNote note, ZeppelinNote.Paragraph p) {
    output.reset();
    long start = System.nanoTime();
    Results.Result result = scala.Console.withOut(console, () -> repl.interpret(p.code()));
    String text = output.toString(StandardCharsets.UTF_8);
    System.out.printf("---- %s, %s: %.1f s%n%s%n", note.name(), p.label(), (System.nanoTime() - start) / 1e9, text);
    if (result != Results.Success$.MODULE$) {
      fail("note '" + note.name() + "', " + p.label() + ": the REPL answered " + result + "\n" + text);
    }
    if (STACK_TRACE.matcher(text).find()) {
      fail("note '" + note.name() + "', " + p.label() + ": its output holds a stack trace\n" + text);
    }
  }

  private void runSql(ZeppelinNote note, ZeppelinNote.Paragraph p) {
    for (String statement : p.sqlStatements()) {
      long start = System.nanoTime();
      List<Row> rows;
      Dataset<Row> result;
      try {
        result = spark.sql(statement);
        rows = result.collectAsList();
      } catch (Exception e) { // AnalysisException is checked in Java, though Scala does not declare it
        throw new AssertionError("note '" + note.name() + "', " + p.label() + ": " + e + "\n" + statement, e);
      }
      // What Zeppelin's SQL interpreter sends to the front end: a %table, tab-separated (first rows here).
      System.out.printf("---- %s, %s: %.1f s%n%%table %s%n%s%n", note.name(), p.label(),
          (System.nanoTime() - start) / 1e9, String.join("\t", result.columns()),
          rows.stream().limit(10).map(r -> r.mkString("\t")).collect(Collectors.joining("\n")));
      if (result.columns().length > 0 && rows.isEmpty()) {
        fail("note '" + note.name() + "', " + p.label() + ": the query returned no rows (an empty table or chart)\n"
            + statement);
      }
    }
  }

  @Override
  public void close() {
    try {
      repl.close();
    } finally {
      Thread.currentThread().setContextClassLoader(callerLoader);
      spark.stop();
    }
  }
}
