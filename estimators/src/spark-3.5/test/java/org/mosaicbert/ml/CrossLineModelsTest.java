package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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
  /** The Spark 4 child JVM, once it has run. */
  private static CrossLineChecks.Child spark4Child;

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
    CrossLineChecks.assertSameModelFolders(fit35, "Spark 3.5", fit4, "Spark 4");
  }

  private static void assertSameScores(String direction, Path expectedFile, Path actualFile) throws IOException {
    CrossLineChecks.assertSameScores(direction, expectedFile, actualFile, spark4Child.output());
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

  /** Runs CrossLineModels.main under the Spark 4 line, its output into a log; fails, showing it, unless it exits 0. */
  private static void runSpark4(List<String> classPath, String... args) throws IOException, InterruptedException {
    spark4Child = CrossLineChecks.run(classPath, tmp.resolve("spark4-child.log"), CHILD_TIMEOUT_SECONDS, args);
    if (spark4Child.exitCode() != 0) {
      fail("the Spark 4 child JVM (" + String.join(" ", args) + ") exited with " + spark4Child.exitCode()
          + spark4Child.output());
    }
  }
}
