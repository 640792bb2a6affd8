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
import org.mosaicbert.train.DecoupledAdamW;
import org.mosaicbert.train.LocalCheckpointStore;
import org.mosaicbert.train.SettingValues;
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
}
