package org.mosaicbert.backend.cpu;

import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.mosaicbert.backend.Buffer;

/** Off-heap float32 memory: one JavaCPP pointer for OpenBLAS and a direct FloatBuffer over the same bytes for Java. */
final class CpuBuffer implements Buffer {
  final FloatPointer pointer;
  final FloatBuffer floats;
  private final String name;

  CpuBuffer(long size, String name) {
    if (size > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("buffer " + name + " of " + size + " floats is over the CPU backend's limit "
          + "of 2^31 floats (8 GiB); for activations, lower the micro-batch (the estimators' microBatchSize or "
          + "microBatchTokens, recipe keys device_train_microbatch_size, device_train_microbatch_tokens) or the "
          + "sequence length (maxSeqLen, max_seq_len)");
    }
    this.name = name;
    this.pointer = new FloatPointer(Math.max(1, size));
    Pointer.memset(pointer, 0, Math.max(1, size) * 4);
    this.floats = pointer.asBuffer();
  }

  @Override
  public long size() {
    return floats.capacity();
  }

  @Override
  public String name() {
    return name;
  }

  void free() {
    pointer.deallocate();
  }
}
