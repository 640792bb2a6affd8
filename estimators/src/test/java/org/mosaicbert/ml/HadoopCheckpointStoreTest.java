package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.backend.BufferKind;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.testing.FullDiskFileSystem;
import org.mosaicbert.train.DecoupledAdamW;
import org.mosaicbert.train.LocalCheckpointStore;
import org.mosaicbert.train.SettingValues;
import org.mosaicbert.train.StepMetrics;
import org.mosaicbert.train.TrainState;

/**
 * Resume through the Hadoop file system API: a damaged newest checkpoint falls back to the newest intact one, errors
 * name the checkpoint folder (not the local copy it was read through), and no copy is left behind.
 */
class HadoopCheckpointStoreTest {
  @TempDir Path tmp;

  /** A checkpoint of {@code step} in the store's layout: the training state, its checksum, then DONE. */
  private static void checkpoint(Path dir, int step) throws IOException {
    try (CpuBackend cpu = new CpuBackend(1)) {
      Buffer params = cpu.allocate(BufferKind.PARAMETERS, 16, "parameters");
      DecoupledAdamW adamw = new DecoupledAdamW(cpu, 16, DecoupledAdamW.Hyper.of(SettingValues.defaults()));
      for (int s = 0; s < step; s++) {
        adamw.step(params, cpu.allocate(BufferKind.GRADIENTS, 16, "gradients"), 1.0);
      }
      Path folder = dir.resolve(LocalCheckpointStore.stepFolder(step));
      TrainState.write(folder, cpu, params, adamw, SettingValues.defaults());
      Files.writeString(folder.resolve("DONE"), "step " + step + "\n");
    }
  }

  private static List<Path> resumeCopies() throws IOException {
    try (Stream<Path> files = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
      return files.filter(p -> p.getFileName().toString().startsWith("mosaicbert-resume")).toList();
    }
  }

  @Test
  void aDamagedNewestCheckpointFallsBackAndNamesTheRealFolder() throws IOException {
    Path dir = tmp.resolve("check points 100%");
    checkpoint(dir, 2);
    checkpoint(dir, 4);
    List<Path> copiesBefore = resumeCopies();
    // A Hadoop path string, as users give one: not URI-encoded (a space stays a space, % stays %).
    HadoopCheckpointStore store = HadoopCheckpointStore.of("file:" + dir, new Configuration());
    assertEquals(4, store.latest().orElseThrow().step());

    Path newest = dir.resolve(LocalCheckpointStore.stepFolder(4));
    byte[] bytes = Files.readAllBytes(newest.resolve(TrainState.FILE));
    bytes[bytes.length / 2] ^= 1;
    Files.write(newest.resolve(TrainState.FILE), bytes);
    assertEquals(2, store.latest().orElseThrow().step(), "step 4 is damaged: resume from step 2");

    Files.delete(dir.resolve(LocalCheckpointStore.stepFolder(2)).resolve(TrainState.CHECKSUM));
    String message = assertThrows(IOException.class, store::latest).getMessage();
    assertTrue(message.contains(LocalCheckpointStore.stepFolder(4)) && message.contains(
        LocalCheckpointStore.stepFolder(2)) && message.contains("check points 100%"), message);
    assertTrue(!message.contains("mosaicbert-resume"), "names the checkpoint, not its local copy: " + message);
    assertEquals(copiesBefore, resumeCopies(), "no local copy is left behind");
  }

  private static String metricsLines(int from, int to) {
    StringBuilder lines = new StringBuilder();
    for (int step = from; step <= to; step++) {
      lines.append(new StepMetrics(step, 100, 7.0, 0.1, 1e-3, 1.0, 1000, 0.1, 0.08, 0.02).toJsonLine()).append('\n');
    }
    return lines.toString();
  }

  /**
   * The run that holds the location next removes what a killed run left half written there (temporaries, a checkpoint
   * without DONE, rank 0's staging copy on this machine), and the metrics lines after the checkpoint it resumes from;
   * complete checkpoints and the rest of the log stay.
   */
  @Test
  void whatAKilledRunLeftHalfWrittenGoesAndTheMetricsAfterTheResumedCheckpointToo() throws IOException {
    Path dir = tmp.resolve("checkpoints");
    checkpoint(dir, 2);
    Path unfinished = Files.createDirectories(dir.resolve(LocalCheckpointStore.stepFolder(4)));
    Files.writeString(unfinished.resolve(TrainState.FILE), "half written");
    Files.writeString(dir.resolve(".metrics.jsonl.tmp"), "");
    Files.writeString(dir.resolve(".loss.png.tmp"), "");
    Files.writeString(dir.resolve(StepMetrics.FILE_NAME), metricsLines(1, 3) + "{\"step\": 4, \"lo");
    HadoopCheckpointStore store = HadoopCheckpointStore.of(dir.toString(), new Configuration());
    Path staging = Files.createTempDirectory(store.stagingPrefix());
    Files.writeString(staging.resolve(TrainState.FILE), "a staged copy");
    assertTrue(store.stagingPrefix().startsWith("mosaicbert-checkpoint-")
        && !store.stagingPrefix().equals(HadoopCheckpointStore.of(tmp.resolve("other").toString(),
            new Configuration()).stagingPrefix()), "named after its location");

    store.removeLeftovers();
    try (Stream<Path> names = Files.list(dir)) {
      assertEquals(List.of(StepMetrics.FILE_NAME, LocalCheckpointStore.stepFolder(2)), names.map(p ->
          p.getFileName().toString()).filter(n -> !n.endsWith(".crc")).sorted().toList());
    }
    assertTrue(Files.notExists(staging));
    assertEquals(2, HadoopCheckpointStore.newestStep(dir.toString(), new Configuration()));

    store.dropMetricsAfter(2);
    assertEquals(metricsLines(1, 2), Files.readString(dir.resolve(StepMetrics.FILE_NAME)),
        "the lines as written, up to the checkpoint's step; the half line of a killed write goes too");
  }

  /** A full disk: the write fails naming the file, and leaves the file as it was and no temporary. */
  @Test
  void aFullDiskFailsAMetricsWriteNamingTheFileAndLeavesNoTemporary() throws IOException {
    Configuration conf = new Configuration();
    conf.set("fs.fulldisk.impl", FullDiskFileSystem.class.getName());
    conf.setBoolean("fs.fulldisk.impl.disable.cache", true);
    Path dir = Files.createDirectories(tmp.resolve("full disk"));
    String lines = metricsLines(1, 200);
    assertTrue(lines.length() > FullDiskFileSystem.CAPACITY);
    Files.writeString(dir.resolve(StepMetrics.FILE_NAME), lines);
    HadoopCheckpointStore store = HadoopCheckpointStore.of("fulldisk:" + dir, conf);
    String message = assertThrows(IOException.class, () -> store.appendMetrics(StepMetrics.parseLines(
        metricsLines(201, 201), "line").get(0))).getMessage();
    assertEquals("cannot write fulldisk:" + dir.resolve(StepMetrics.FILE_NAME) + ": No space left on device",
        message);
    assertEquals(lines, Files.readString(dir.resolve(StepMetrics.FILE_NAME)));
    try (Stream<Path> names = Files.list(dir)) {
      assertEquals(List.of(StepMetrics.FILE_NAME), names.map(p -> p.getFileName().toString()).toList());
    }
  }
}
