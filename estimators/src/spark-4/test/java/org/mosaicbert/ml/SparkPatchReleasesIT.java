package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Spark 4 line's jar, built against the Spark of this JVM (4.2), on two other Spark 4 releases, each in a child
 * JVM on the shaded jar, this line's test classes and that release's jars (assembled by spark-home/spark-4.0.1 and
 * spark-home/spark-4.0.0). On 4.0.1 {@link CrossLineModels}' fit writes the same model folders and scores as here,
 * bit for bit, and the models each release saved score the same under the other. On 4.0.0, whose constructors of
 * ML's Param differ, the first stage made refuses with a message saying to use 4.0.1 or later.
 */
class SparkPatchReleasesIT {
  private static final long CHILD_TIMEOUT_SECONDS = 300;

  /** Kept when a test fails, for a look at what each release saved, scored and logged. */
  @TempDir(cleanup = CleanupMode.ON_SUCCESS) static Path tmp;
  private static SparkSession spark;
  /** This JVM's Spark ("Spark 4.2.0"), for the failures. */
  private static String here;
  private static Path data;
  /** Fitted and saved here and by the 4.0.1 child, from the same data folder. */
  private static Path fitHere;
  private static Path fit401;
  /** The 4.0.1 child's scores of the models saved here, and this JVM's scores of the child's. */
  private static Path scores401OfHere;
  private static Path scoresHereOf401;
  private static CrossLineChecks.Child spark401;

  @BeforeAll
  static void fitHereAndOnSpark401() throws Exception {
    List<String> classPath401 = classPath("4.0.1");
    spark = CrossLineModels.session("spark-patch-releases-it");
    here = "Spark " + spark.version();
    Path fixture = Files.createDirectories(tmp.resolve("fixture"));
    TokenIdsFixture rows = TokenIdsFixture.of(spark, fixture, 40);
    data = tmp.resolve("data");
    CrossLineModels.writeData(Files.readAllLines(rows.vocabFile()), rows.data(), data);
    fitHere = tmp.resolve("fit-here");
    fit401 = tmp.resolve("fit-spark4.0.1");
    scores401OfHere = tmp.resolve("spark4.0.1-scores-of-models-saved-here.tsv");
    scoresHereOf401 = tmp.resolve("scores-here-of-spark4.0.1-models.tsv");
    CrossLineModels.fit(spark, data, fitHere);
    spark401 = CrossLineChecks.run(classPath401, tmp.resolve("spark4.0.1-child.log"), CHILD_TIMEOUT_SECONDS,
        "fit", data.toString(), fit401.toString(), "score", fitHere.toString(), scores401OfHere.toString());
    if (spark401.exitCode() != 0) {
      fail("the Spark 4.0.1 child JVM exited with " + spark401.exitCode() + spark401.output());
    }
    CrossLineModels.score(spark, fit401, scoresHereOf401);
  }

  @AfterAll
  static void stop() {
    if (spark != null) {
      spark.stop();
    }
  }

  /** Spark's metadata of the child's model records the release it ran: the class path held 4.0.1, not this Spark. */
  @Test
  void theChildRanOnSpark401() throws IOException {
    String metadata = metadataOf(fit401.resolve(CrossLineModels.MODEL));
    assertTrue(metadata.contains("\"sparkVersion\":\"4.0.1\""), "the model the child saved was not saved by Spark "
        + "4.0.1: " + metadata);
    assertFalse(here.equals("Spark 4.0.1"), "this JVM runs Spark 4.0.1 too: nothing is compared across releases");
  }

  @Test
  void theSameSeedAndDataTrainTheSameModelFolderOnSpark401() throws IOException {
    CrossLineChecks.assertSameModelFolders(fitHere, here, fit401, "Spark 4.0.1");
  }

  @Test
  void theSameFitScoresTheSameOnSpark401() throws IOException {
    CrossLineChecks.assertSameScores("fitted and scored by Spark 4.0.1 against by " + here,
        fitHere.resolve(CrossLineModels.FIT_SCORES), fit401.resolve(CrossLineModels.FIT_SCORES), spark401.output());
  }

  @Test
  void modelsSavedBySpark401ScoreTheSameHere() throws IOException {
    CrossLineChecks.assertSameScores("saved by Spark 4.0.1, scored by " + here + " (" + scoresHereOf401 + ") "
        + "against scored by Spark 4.0.1 as fitted", fit401.resolve(CrossLineModels.FIT_SCORES), scoresHereOf401,
        spark401.output());
  }

  @Test
  void modelsSavedHereScoreTheSameOnSpark401() throws IOException {
    CrossLineChecks.assertSameScores("saved by " + here + ", scored by Spark 4.0.1 (" + scores401OfHere + ") "
        + "against scored by " + here + " as fitted", fitHere.resolve(CrossLineModels.FIT_SCORES), scores401OfHere,
        spark401.output());
  }

  /**
   * On Spark 4.0.0 the estimator's constructor throws the error that says what to do, before its first Param would
   * fail with NoSuchMethodError; the child's main ends with it (exit code 1) and saves nothing.
   */
  @Test
  void spark400RefusesTheStagesSayingToUse401OrLater() throws Exception {
    Path out = tmp.resolve("fit-spark4.0.0");
    CrossLineChecks.Child child = CrossLineChecks.run(classPath("4.0.0"), tmp.resolve("spark4.0.0-child.log"),
        CHILD_TIMEOUT_SECONDS, "fit", data.toString(), out.toString());
    String output = Files.readString(child.log(), StandardCharsets.UTF_8);
    assertNotEquals(0, child.exitCode(), "the fit on Spark 4.0.0 ended with exit code 0" + child.output());
    assertTrue(output.contains("java.lang.UnsupportedOperationException: MosaicBERT's Spark ML stages cannot run on "
        + "Spark 4.0.0: Spark 4.0.0 changed the constructors of ML's Param, and 4.0.1 restored them (SPARK-52259); "
        + "run on Spark 4.0.1 or later"), "the child's error does not say to use Spark 4.0.1" + child.output());
    assertTrue(output.contains("at org.mosaicbert.ml.MosaicBertEstimator.<init>"), "not the estimator's "
        + "constructor refused" + child.output());
    assertFalse(output.contains("NoSuchMethodError"), "a NoSuchMethodError reached the user" + child.output());
    assertFalse(Files.exists(out), out + " was written");
  }

  /**
   * This line on Spark {@code release}: the shaded jar, the test classes beside it (CrossLineModels) and the jars of
   * the release's Spark home, whose folder the POM gives as mosaicbert.spark.home.RELEASE.
   */
  private static List<String> classPath(String release) {
    String jarProperty = System.getProperty("mosaicbert.jar");
    String homeProperty = System.getProperty("mosaicbert.spark.home." + release);
    assertTrue(jarProperty != null && homeProperty != null, "mosaicbert.jar or mosaicbert.spark.home." + release
        + " is not set: run this test through Maven (mvn -B verify -pl spark-home/spark-" + release
        + ",estimators/spark-4 -am -Dit.test=SparkPatchReleasesIT)");
    Path jar = Path.of(jarProperty);
    Path testClasses = jar.getParent().resolve("test-classes");
    Path jars = Path.of(homeProperty, "jars");
    Path core = jars.resolve("spark-core_2.13-" + release + ".jar");
    assertTrue(Files.exists(jar) && Files.exists(core), "the Spark 4 line's jar (" + jar + ") or Spark " + release
        + "'s jars (" + core + ") are missing: build them in the same run, mvn -B verify -pl spark-home/spark-"
        + release + ",estimators/spark-4 -am");
    return List.of(jar.toString(), testClasses.toString(), jars.resolve("*").toString());
  }

  /** The JSON line of Spark's metadata in a saved stage's folder. */
  private static String metadataOf(Path stage) throws IOException {
    try (Stream<Path> parts = Files.list(stage.resolve("metadata"))) {
      Path part = parts.filter(p -> p.getFileName().toString().startsWith("part-")).findFirst()
          .orElseThrow(() -> new AssertionError("no metadata part file in " + stage));
      return Files.readString(part, StandardCharsets.UTF_8);
    }
  }
}
