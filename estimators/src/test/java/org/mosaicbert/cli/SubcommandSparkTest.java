package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/**
 * A subcommand under spark-submit runs in the session spark-submit configured (its master, name and settings); run
 * directly, in a local one.
 */
class SubcommandSparkTest {
  @Test
  void runDirectlyASubcommandGetsALocalSessionOnEveryCore() {
    Map<String, String> added = SubcommandSpark.settings("tokenize", new SparkConf(false));
    assertEquals("local[*]", added.get("spark.master"));
    assertEquals("mosaicbert tokenize", added.get("spark.app.name"));
    assertEquals("127.0.0.1", added.get("spark.driver.host"));
    assertEquals("false", added.get("spark.ui.enabled"));
    assertEquals("600", added.get("spark.barrier.sync.timeout"));
  }

  @Test
  void underSparkSubmitTheMasterNameAndSettingsItGaveAreKept() {
    SparkConf submitted = new SparkConf(false).set("spark.master", "yarn").set("spark.app.name", "nightly tokenize")
        .set("spark.ui.showConsoleProgress", "true");
    assertEquals(Map.of(), SubcommandSpark.settings("tokenize", submitted), "nothing spark-submit set is replaced");
  }

  @Test
  void underSparkSubmitWithoutNameTheApplicationIsNamedForTheSubcommand() {
    // spark-submit without --name names the application after its --class.
    SparkConf submitted = new SparkConf(false).set("spark.master", "spark://cluster:7077")
        .set("spark.app.name", Main.class.getName());
    assertEquals(Map.of("spark.app.name", "mosaicbert pretrain", "spark.ui.showConsoleProgress", "false"),
        SubcommandSpark.settings("pretrain", submitted), "no local settings on a cluster");
  }

  @Test
  void runDirectlyTheSettingsTheJvmWasStartedWithWin() {
    SparkConf launched = new SparkConf(false).set("spark.ui.enabled", "true").set("spark.driver.host", "10.0.0.5");
    Map<String, String> added = SubcommandSpark.settings("predict", launched);
    assertEquals("local[*]", added.get("spark.master"));
    assertEquals(null, added.get("spark.ui.enabled"));
    assertEquals(null, added.get("spark.driver.host"));
  }

  /** spark-submit hands the driver its settings as system properties; the session is built from them. */
  @Test
  void theSessionIsTheOneTheSystemPropertiesConfigure() {
    System.setProperty("spark.master", "local[2]");
    System.setProperty("spark.app.name", "submitted by a test");
    System.setProperty("spark.ui.enabled", "false");
    SparkSession spark = null;
    try {
      spark = SubcommandSpark.submittedOrLocal("tokenize");
      assertEquals("local[2]", spark.sparkContext().master());
      assertEquals("submitted by a test", spark.sparkContext().appName());
      assertEquals("false", spark.conf().get("spark.ui.showConsoleProgress"));
    } finally {
      if (spark != null) {
        spark.stop();
      }
      System.clearProperty("spark.master");
      System.clearProperty("spark.app.name");
      System.clearProperty("spark.ui.enabled");
    }
  }
}
