package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.testing.FullDiskFileSystem;

/** Saving a model onto a disk that fills up fails naming the path and leaves nothing half-written behind. */
class ModelSavingTest {
  @TempDir Path tmp;
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("model-saving-test").config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
    spark.sparkContext().hadoopConfiguration().set("fs.fulldisk.impl", FullDiskFileSystem.class.getName());
    spark.sparkContext().hadoopConfiguration().setBoolean("fs.fulldisk.impl.disable.cache", true);
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static List<String> names(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private static List<String> modelCopies() throws IOException {
    try (Stream<Path> files = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
      return files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("mosaicbert-model")).sorted()
          .toList();
    }
  }

  @Test
  void aFullDiskLeavesNoHalfWrittenModel() throws Exception {
    Path fixture = Path.of(getClass().getResource("/legacy-models/mlm-model").toURI());
    MosaicBertModel model = MosaicBertModel.load(fixture.toString());
    List<String> copiesBefore = modelCopies();
    Path parent = Files.createDirectories(tmp.resolve("out dir"));
    String target = "fulldisk:" + parent.resolve("model");
    Exception e = assertThrows(Exception.class, () -> model.write().save(target));
    assertTrue(e.getMessage().contains(parent.resolve("model").toString()) && e.getMessage().contains("No space"),
        e.toString());
    assertTrue(names(parent).isEmpty(), "left behind: " + names(parent));
    assertTrue(modelCopies().equals(copiesBefore), "a local copy is left behind");
    // the same model saves where there is room
    model.write().save(parent.resolve("model").toString());
    assertTrue(Files.exists(parent.resolve("model").resolve("model.safetensors")));
  }

  /**
   * A model folder that fails to load leaves no copy of itself in java.io.tmpdir, whether it is read in place (the
   * local disk) or copied first (any other file system; here one that is not the local one).
   */
  @Test
  void aFailedLoadLeavesNoCopyBehind() throws Exception {
    Path damaged = Files.createDirectories(tmp.resolve("damaged"));
    Path fixture = Path.of(getClass().getResource("/legacy-models/mlm-model").toURI());
    for (String name : List.of(ModelFolder.CONFIG, ModelFolder.VOCAB)) {
      Files.copy(fixture.resolve(name), damaged.resolve(name));
    }
    Files.write(damaged.resolve(ModelFolder.WEIGHTS), new byte[] {1, 2, 3}); // not safetensors
    List<String> copiesBefore = modelCopies();
    var conf = spark.sparkContext().hadoopConfiguration();
    for (String path : List.of(damaged.toString(), "fulldisk:" + damaged)) {
      assertThrows(RuntimeException.class, () -> ModelFolder.read(path, conf), path);
      assertTrue(modelCopies().equals(copiesBefore), path + ": a copy is left behind: " + modelCopies());
    }
  }
}
