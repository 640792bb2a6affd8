package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;
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
    assertTrue(GpuCheck.trainingOnTheEmulatedDevice(System.err)[0].equals("pass"), "see the loss table above");
  }
}
