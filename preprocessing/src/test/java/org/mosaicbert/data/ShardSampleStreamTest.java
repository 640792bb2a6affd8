package org.mosaicbert.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.testing.LocalSpark;
import org.mosaicbert.testing.SharedTestData;
import org.mosaicbert.train.Sample;

class ShardSampleStreamTest {
  private static SparkSession spark;
  @TempDir static Path tmp;
  private static ShardManifest manifest;

  @BeforeAll
  static void tokenize() {
    spark = LocalSpark.start();
    manifest = TokenizeJob.run(spark, new TokenizeJob.Options(SharedTestData.path("data/c4").toString(),
        SharedTestData.vocabTxt().toString(), tmp.resolve("shards").toString(), 64, null, "text", 100, false, false,
        false, 8192)).manifest();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static ShardSampleStream stream(int window) {
    return new ShardSampleStream(tmp.resolve("shards").toString(), manifest,
        HadoopConf.of(spark.sparkContext().hadoopConfiguration()), 17, window, 30522);
  }

  @Test
  void everyEpochVisitsEverySampleOnceInItsOwnOrder() {
    ShardSampleStream s = stream(2);
    assertEquals(1030, s.epochSize());
    List<Sample> epoch0 = s.range(0, 1030);
    List<Sample> epoch1 = s.range(1030, 1030);
    Set<Long> ids = new HashSet<>();
    epoch0.forEach(x -> ids.add(x.sampleId()));
    assertEquals(1030, ids.size(), "each sample exactly once");
    assertNotEquals(epoch0.stream().map(Sample::sampleId).toList(), epoch1.stream().map(Sample::sampleId).toList());
    assertEquals(epoch0.get(500).sampleId(), stream(2).range(500, 1).get(0).sampleId(), "a pure function of the "
        + "position: a fresh stream (another worker, a resumed run) agrees");
  }

  /** Row counts that disagree with the Parquet footers fail when the stream opens, naming the shard. */
  @Test
  void aManifestThatMisstatesItsRowsIsRefusedNamingTheShard() {
    HadoopConf conf = HadoopConf.of(spark.sparkContext().hadoopConfiguration());
    String dir = tmp.resolve("shards").toString();
    ShardManifest.Shard first = manifest.shards().get(0);
    for (long rows : new long[] {first.rows() + 7, first.rows() - 7, -5}) {
      List<ShardManifest.Shard> shards = new java.util.ArrayList<>(manifest.shards());
      shards.set(0, new ShardManifest.Shard(first.path(), rows, first.tokens(), List.of(rows)));
      ShardManifest edited = new ShardManifest(manifest.formatVersion(), manifest.vocab(), manifest.maxSeqLen(),
          manifest.tokenizer(), shards, manifest.totalRows() - first.rows() + rows, manifest.totalTokens(),
          manifest.skipped(), manifest.input());
      String message = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          () -> new ShardSampleStream(dir, edited, conf, 17, 2, 30522)).getMessage();
      assertTrue(message.contains(first.path()) && message.contains("Parquet footer"), message);
    }
    ShardManifest overstatedTotal = new ShardManifest(manifest.formatVersion(), manifest.vocab(),
        manifest.maxSeqLen(), manifest.tokenizer(), manifest.shards(), manifest.totalRows() + 1,
        manifest.totalTokens(), manifest.skipped(), manifest.input());
    assertTrue(org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> new ShardSampleStream(dir, overstatedTotal, conf, 17, 2, 30522)).getMessage().contains("total_rows"));
  }

  /** Counts no tokenize run writes are refused when the manifest is read, naming it and the shard. */
  @Test
  void aManifestWithNegativeOrInconsistentCountsIsRefusedWhenRead() throws java.io.IOException {
    var conf = spark.sparkContext().hadoopConfiguration();
    ShardManifest.Shard first = manifest.shards().get(0);
    for (List<Long> groups : List.of(List.of(-5L), List.of(first.rows() + 1))) {
      List<ShardManifest.Shard> shards = new java.util.ArrayList<>(manifest.shards());
      shards.set(0, new ShardManifest.Shard(first.path(), groups.equals(List.of(-5L)) ? -5 : first.rows(),
          first.tokens(), groups));
      ShardManifest edited = new ShardManifest(manifest.formatVersion(), manifest.vocab(), manifest.maxSeqLen(),
          manifest.tokenizer(), shards, manifest.totalRows(), manifest.totalTokens(), manifest.skipped(),
          manifest.input());
      java.nio.file.Path dir = java.nio.file.Files.createTempDirectory(tmp, "edited");
      edited.write(new org.apache.hadoop.fs.Path(dir.toString(), ShardManifest.FILE_NAME), conf);
      String message = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          () -> ShardManifest.read(new org.apache.hadoop.fs.Path(dir.toString()), conf)).getMessage();
      assertTrue(message.contains("shard " + first.path() + " says") && message.contains("The manifest is damaged"),
          message);
    }
  }

  @Test
  void aSliceIsReadFromTheRowGroupsOfItsWindowOnly() {
    ShardSampleStream s = stream(2);
    assertEquals(11, manifest.shards().size(), "1030 rows at 100 per shard, one row group each");
    List<String> touched = s.rowGroupsOf(40, 16);
    assertTrue(touched.size() <= 4, "16 samples come from at most two windows of two row groups: " + touched);
  }

  /**
   * Spark gives every task of one executor the same broadcast stream, so ranks there read it at once. Each read here
   * lands in another epoch, so the threads keep planning epochs at the same time.
   */
  @Test
  void ranksInOneExecutorCanReadOneStreamAtOnce() throws Exception {
    long[] positions = new long[100];
    for (int i = 0; i < positions.length; i++) {
      positions[i] = (i % 4) * 1030L + i;
    }
    ShardSampleStream alone = stream(2);
    List<Long> expected = java.util.Arrays.stream(positions).mapToObj(p -> alone.range(p, 1).get(0).sampleId())
        .toList();
    ShardSampleStream shared = stream(2);
    ExecutorService ranks = Executors.newFixedThreadPool(4);
    try {
      List<Future<List<Long>>> read = new java.util.ArrayList<>();
      for (int rank = 0; rank < 4; rank++) {
        read.add(ranks.submit(() -> java.util.Arrays.stream(positions)
            .mapToObj(p -> shared.range(p, 1).get(0).sampleId()).toList()));
      }
      for (Future<List<Long>> rank : read) {
        assertEquals(expected, rank.get(), "each reads what one reads alone");
      }
    } finally {
      ranks.shutdownNow();
    }
  }
}
