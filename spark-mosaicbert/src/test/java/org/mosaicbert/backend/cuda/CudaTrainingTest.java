package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;
import org.mosaicbert.collective.Collective;
import org.mosaicbert.train.DataParallelTrainer;

/**
 * Training on the CUDA backend through {@link DataParallelTrainer} (optimizer, micro-batches with different masked
 * counts, dropout, the gradient reduction through the host, checkpoints), against the CPU backend: on the emulated
 * device, which runs the kernel files on the CPU (a GPU runs the longer version in GpuCheck).
 */
class CudaTrainingTest {
  @Test
  void trainingOnTheCudaBackendFollowsTheCpu() {
    assumeTrue(EmulatedDevice.compiler() != null, "no g++: the emulated device cannot be built");
    TrainingComparison c = TrainingComparison.run(6, 256, 64, 32, 8, 4, (plan, stream, store) ->
        DataParallelTrainer.train(plan, new CudaBackend(new EmulatedDevice(), 1L << 28), Collective.single(), stream,
            null, store));
    c.print(System.err, "the CUDA backend on the emulated device");
    assertTrue(c.passes(0.3), "see the loss table above");
  }
}
