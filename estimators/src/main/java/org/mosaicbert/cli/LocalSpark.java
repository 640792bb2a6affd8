package org.mosaicbert.cli;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

/**
 * The Spark session of a subcommand: the cluster's when launched by {@code spark-submit} (which sets
 * {@code spark.master}), else local mode on every core of this machine.
 */
final class LocalSpark {
  private LocalSpark() {}

  static SparkSession session(String subcommand) {
    SparkSession.Builder builder = SparkSession.builder()
        .appName("mosaicbert " + subcommand)
        .config("spark.ui.showConsoleProgress", "false");
    if (!new SparkConf().contains("spark.master")) {
      builder.master("local[*]")
          .config("spark.driver.host", "127.0.0.1")
          .config("spark.driver.bindAddress", "127.0.0.1")
          .config("spark.ui.enabled", "false")
          .config("spark.barrier.sync.timeout", "600");
    }
    return builder.getOrCreate();
  }
}
