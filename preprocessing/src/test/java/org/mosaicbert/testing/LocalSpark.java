package org.mosaicbert.testing;

import org.apache.spark.sql.SparkSession;

/** One local Spark session for a test class: two cores, no UI, failing fast. */
public final class LocalSpark {
  private LocalSpark() {}

  public static SparkSession start() {
    return SparkSession.builder()
        .master("local[2]")
        .appName("mosaicbert-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.barrier.sync.timeout", "30")
        .config("spark.stage.maxConsecutiveAttempts", "1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate();
  }
}
