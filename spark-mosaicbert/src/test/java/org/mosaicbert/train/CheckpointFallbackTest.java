package org.mosaicbert.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.collective.LoopbackRing;

/** A damaged newest checkpoint does not block a resume: the store falls back to the newest intact one. */
class CheckpointFallbackTest {
  @TempDir Path tmp;

  /** Damages a checkpoint's training state by flipping one byte in the middle of it. */
  static void flipAByte(Path checkpoint) throws IOException {
    Path file = checkpoint.resolve(TrainState.FILE);
    byte[] bytes = Files.readAllBytes(file);
    bytes[bytes.length / 2] ^= 1;
    Files.write(file, bytes);
  }

  @Test
  void aDamagedNewestCheckpointFallsBackToTheNewestIntactOne() throws IOException {
    Path dir = tmp.resolve("checkpoints with a space");
    LocalCheckpointStore store = new LocalCheckpointStore(dir);
    LoopbackRing.run(1, 30_000, c -> DataParallelTrainerTest.trainRank(DataParallelTrainerTest.plan(1, 8, 3), c,
        SampleStream.inMemory(DataParallelTrainerTest.dataset(20), 17), store, StepHook.NONE));
    assertEquals(8, store.latest().orElseThrow().step(), "checkpoints at steps 3, 6 and 8");

    flipAByte(dir.resolve(LocalCheckpointStore.stepFolder(8)));
    assertEquals(6, store.latest().orElseThrow().step(), "a flipped byte in step 8: resume from step 6");

    Files.delete(dir.resolve(LocalCheckpointStore.stepFolder(6)).resolve(TrainState.CHECKSUM));
    assertEquals(3, store.latest().orElseThrow().step(), "step 6 has no checksum beside DONE: resume from step 3");

    flipAByte(dir.resolve(LocalCheckpointStore.stepFolder(3)));
    String message = assertThrows(IOException.class, store::latest).getMessage();
    for (int step : new int[] {8, 6, 3}) {
      assertTrue(message.contains(dir.resolve(LocalCheckpointStore.stepFolder(step)).toString()), message);
    }
  }
}
