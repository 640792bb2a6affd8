package org.mosaicbert.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

/**
 * The Spark session a subcommand runs in: under {@code spark-submit}, the session spark-submit configured (its
 * master, its {@code --conf} settings and {@code spark-defaults.conf}, its {@code --name}); run directly, as
 * {@code bin/mosaicbert} does, a local session on every core of this machine ({@code local[*]}).
 *
 * <p>spark-submit hands its settings to the driver as {@code spark.*} system properties, {@code spark.master} always
 * among them ({@code local[*]} when no {@code --master} is given); a JVM started without it was not started by
 * spark-submit. What this class sets itself are defaults: a setting the JVM was started with wins.
 */
final class SubcommandSpark {
  private SubcommandSpark() {}

  /** The session spark-submit configured, or a local one when there is none; named for {@code subcommand}. */
  static SparkSession submittedOrLocal(String subcommand) {
    SparkSession.Builder builder = SparkSession.builder();
    settings(subcommand, new SparkConf()).forEach(builder::config);
    return builder.getOrCreate();
  }

  /**
   * The settings added to {@code launched}, the ones the JVM was started with: a name when spark-submit gave none of
   * its own (it names the application after its main class then), no console progress bars unless asked for, and
   * without a master the local session's.
   */
  static Map<String, String> settings(String subcommand, SparkConf launched) {
    Map<String, String> added = new LinkedHashMap<>();
    if (launched.get("spark.app.name", Main.class.getName()).equals(Main.class.getName())) {
      added.put("spark.app.name", "mosaicbert " + subcommand);
    }
    addUnlessGiven(added, launched, "spark.ui.showConsoleProgress", "false");
    if (!launched.contains("spark.master")) {
      added.put("spark.master", "local[*]");
      addUnlessGiven(added, launched, "spark.driver.host", "127.0.0.1");
      addUnlessGiven(added, launched, "spark.driver.bindAddress", "127.0.0.1");
      addUnlessGiven(added, launched, "spark.ui.enabled", "false");
      addUnlessGiven(added, launched, "spark.barrier.sync.timeout", "600");
    }
    return added;
  }

  private static void addUnlessGiven(Map<String, String> added, SparkConf launched, String key, String value) {
    if (!launched.contains(key)) {
      added.put(key, value);
    }
  }
}
