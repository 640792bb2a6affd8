package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.mosaicbert.testing.WeightComparison.relativeDifference;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model folder and a PipelineModel saved under one Spark line load under the other and score the same rows to the
 * same bits, both ways; and the same seed and data train the same weights under both. This JVM is the Spark 3.5 line;
 * the Spark 4 line runs {@link CrossLineModels} in a child JVM on its shaded jar (built first, by
 * {@code mvn -B package -DskipTests -pl estimators/spark-4 -am}), its runtime-classpath.txt and its test classes.
 */
class CrossLineModelsTest {
  private static final long CHILD_TIMEOUT_SECONDS = 300;
  private static final String BUILD_SPARK4 = "mvn -B package -DskipTests -pl estimators/spark-4 -am";

  /** Kept when a test fails, for a look at what each line saved and scored. */
  @TempDir(cleanup = CleanupMode.ON_SUCCESS) static Path tmp;
  private static SparkSession spark;
  /** Fitted and saved by this JVM (Spark 3.5) and by the child (Spark 4), from the same data folder. */
  private static Path fit35;
  private static Path fit4;
  /** Scores of the Spark 3.5 line's saved models: loaded here, and loaded by the child. */
  private static Path scores35Of35;
  private static Path scores4Of35;
  /** Scores of the Spark 4 line's saved models, loaded here. */
  private static Path scores35Of4;
  private static Path childLog;

  @BeforeAll
  static void fitUnderBothLines() throws Exception {
    List<String> spark4 = spark4ClassPath();
    spark = CrossLineModels.session("cross-line-models-test");
    TokenIdsFixture fixture = TokenIdsFixture.of(spark, Files.createDirectories(tmp.resolve("fixture")), 40);
    Path data = tmp.resolve("data");
    CrossLineModels.writeData(Files.readAllLines(fixture.vocabFile()), fixture.data(), data);
    fit35 = tmp.resolve("fit-spark3.5");
    fit4 = tmp.resolve("fit-spark4");
    scores35Of35 = tmp.resolve("spark3.5-scores-of-spark3.5-models.tsv");
    scores4Of35 = tmp.resolve("spark4-scores-of-spark3.5-models.tsv");
    scores35Of4 = tmp.resolve("spark3.5-scores-of-spark4-models.tsv");
    CrossLineModels.fit(spark, data, fit35);
    CrossLineModels.score(spark, fit35, scores35Of35);
    runSpark4(spark4, "fit", data.toString(), fit4.toString(), "score", fit35.toString(), scores4Of35.toString());
    CrossLineModels.score(spark, fit4, scores35Of4);
  }

  @AfterAll
  static void stop() {
    if (spark != null) {
      spark.stop();
    }
  }

  @Test
  void modelsSavedBySpark35ScoreTheSameUnderSpark4() throws IOException {
    assertSameScores("saved by Spark 3.5, scored by Spark 4 (" + scores4Of35 + ") against scored by Spark 3.5 ("
        + scores35Of35 + ")", scores35Of35, scores4Of35);
  }

  @Test
  void modelsSavedBySpark4ScoreTheSameUnderSpark35() throws IOException {
    Path fitted = fit4.resolve(CrossLineModels.FIT_SCORES);
    assertSameScores("saved by Spark 4, scored by Spark 3.5 (" + scores35Of4 + ") against scored by Spark 4 as "
        + "fitted (" + fitted + ")", fitted, scores35Of4);
  }

  /**
   * The whole model folder, weights included, is byte for byte the same; Spark's metadata beside it is not compared
   * (it records the Spark version, a time and a random uid).
   */
  @Test
  void theSameSeedAndDataTrainTheSameModelFolderUnderBothLines() throws IOException {
    Path model35 = fit35.resolve(CrossLineModels.MODEL);
    Path model4 = fit4.resolve(CrossLineModels.MODEL);
    assertSameFolder(model35, model4);
    assertSameFolder(pipelineStage(fit35), pipelineStage(fit4));
  }

  private static void assertSameFolder(Path folder35, Path folder4) throws IOException {
    List<String> names = modelFiles(folder35);
    assertEquals(names, modelFiles(folder4), "the files of the model folders " + folder35 + " (Spark 3.5) and "
        + folder4 + " (Spark 4)");
    assertTrue(names.contains(ModelFolder.WEIGHTS), folder35 + " holds no " + ModelFolder.WEIGHTS + ": " + names);
    for (String name : names) {
      long mismatch = Files.mismatch(folder35.resolve(name), folder4.resolve(name));
      if (mismatch != -1) {
        String weights = name.equals(ModelFolder.WEIGHTS) ? "; " + parameterDifference(folder35, folder4) : "";
        fail(name + " differs between the fit under Spark 3.5 (" + folder35.resolve(name) + ", "
            + Files.size(folder35.resolve(name)) + " bytes) and under Spark 4 (" + folder4.resolve(name) + ", "
            + Files.size(folder4.resolve(name)) + " bytes), from byte " + mismatch + weights);
      }
    }
  }

  /** Which parameters differ between two model folders' weights, and by how much. */
  private static String parameterDifference(Path folder35, Path folder4) {
    float[] a = ModelFolder.read(folder35.toString(), new Configuration()).parameters();
    float[] b = ModelFolder.read(folder4.toString(), new Configuration()).parameters();
    if (a.length != b.length) {
      return a.length + " parameters under Spark 3.5, " + b.length + " under Spark 4";
    }
    int first = -1;
    int count = 0;
    for (int i = 0; i < a.length; i++) {
      if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
        first = first < 0 ? i : first;
        count++;
      }
    }
    return count == 0 ? "every parameter has the same bits (the file's header differs)" : count + " of " + a.length
        + " parameters differ, the first at index " + first + " (" + a[first] + " under Spark 3.5, " + b[first]
        + " under Spark 4); relative difference of the whole " + relativeDifference(a, b);
  }

  /** The files a model folder holds for the model itself, without Spark's metadata folder. */
  private static List<String> modelFiles(Path folder) throws IOException {
    try (Stream<Path> files = Files.list(folder)) {
      return files.filter(Files::isRegularFile).map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  /** The PipelineModel's first stage's folder (stages/0_UID), the MosaicBertModel. */
  private static Path pipelineStage(Path fit) throws IOException {
    try (Stream<Path> stages = Files.list(fit.resolve(CrossLineModels.PIPELINE).resolve("stages"))) {
      return stages.filter(p -> p.getFileName().toString().startsWith("0_")).findFirst()
          .orElseThrow(() -> new AssertionError("no stage 0 in " + fit.resolve(CrossLineModels.PIPELINE)));
    }
  }

  private static void assertSameScores(String direction, Path expectedFile, Path actualFile) throws IOException {
    Map<String, double[]> expected = CrossLineModels.readScores(expectedFile);
    Map<String, double[]> actual = CrossLineModels.readScores(actualFile);
    assertEquals(CrossLineModels.SCORED_ROWS * 2, expected.size(), expectedFile + ": rows scored by the model and by "
        + "the pipeline");
    assertEquals(expected.keySet(), actual.keySet(), direction + ": not the same rows scored" + childOutput());
    for (Map.Entry<String, double[]> e : expected.entrySet()) {
      double[] want = e.getValue();
      double[] got = actual.get(e.getKey());
      if (want.length != got.length) {
        fail(direction + ": " + e.getKey() + " has " + got.length + " values, not " + want.length + childOutput());
      }
      List<String> differences = new ArrayList<>();
      for (int j = 0; j < want.length; j++) {
        if (Double.doubleToRawLongBits(want[j]) != Double.doubleToRawLongBits(got[j])) {
          differences.add("[" + j + "] " + want[j] + " vs " + got[j]);
        }
      }
      if (!differences.isEmpty()) {
        fail(direction + ": " + e.getKey() + " differs in " + differences.size() + " of " + want.length
            + " values: " + String.join(", ", differences.subList(0, Math.min(5, differences.size())))
            + childOutput());
      }
    }
  }

  /**
   * The Spark 4 line's class path: its shaded jar, the jars of runtime-classpath.txt beside it and its test classes
   * (this class's companion, CrossLineModels, compiled there too).
   */
  private static List<String> spark4ClassPath() throws IOException {
    String property = System.getProperty("mosaicbert.spark4.jar");
    assertTrue(property != null, "mosaicbert.spark4.jar is not set: run this test through Maven, whose estimators POM "
        + "points it at the Spark 4 line's shaded jar");
    Path jar = Path.of(property);
    Path target = jar.getParent();
    Path runtime = target.resolve("runtime-classpath.txt");
    Path testClasses = target.resolve("test-classes");
    Path main = testClasses.resolve(CrossLineModels.class.getName().replace('.', '/') + ".class");
    for (Path needed : List.of(jar, runtime, main)) {
      assertTrue(Files.exists(needed), "the Spark 4 line is not built: " + needed + " is missing. Build it first: "
          + BUILD_SPARK4);
    }
    return List.of(jar.toString(), Files.readString(runtime).trim(), testClasses.toString());
  }

  /** Runs CrossLineModels.main under the Spark 4 line, its output into childLog; fails, showing it, unless it exits 0. */
  private static void runSpark4(List<String> classPath, String... args) throws IOException, InterruptedException {
    childLog = tmp.resolve("spark4-child.log");
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(Arrays.asList(System.getProperty("mosaicbert.java17.opens", "").trim().split("\\s+")));
    command.addAll(List.of("-Xmx2g", "-cp", String.join(java.io.File.pathSeparator, classPath),
        CrossLineModels.class.getName()));
    command.addAll(Arrays.asList(args));
    Process child = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(childLog.toFile()).start();
    if (!child.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
      child.destroyForcibly().waitFor();
      fail("the Spark 4 child JVM (" + String.join(" ", args) + ") did not finish in " + CHILD_TIMEOUT_SECONDS
          + " s" + childOutput());
    }
    if (child.exitValue() != 0) {
      fail("the Spark 4 child JVM (" + String.join(" ", args) + ") exited with " + child.exitValue() + childOutput());
    }
  }

  /** The end of the Spark 4 child's output, for a failure's message. */
  private static String childOutput() {
    if (childLog == null) {
      return "";
    }
    try {
      String log = Files.readString(childLog, StandardCharsets.UTF_8);
      String tail = log.length() > 6000 ? "..." + log.substring(log.length() - 6000) : log;
      return "\n--- output of the Spark 4 child JVM (" + childLog + ") ---\n" + tail;
    } catch (IOException e) {
      return "\n(no output of the Spark 4 child JVM: " + e + ")";
    }
  }
}
