package org.mosaicbert.backend.cuda;

import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * cuLaunchKernel's {@code void** kernelParams}, allocated once and refilled per launch: one 8-byte slot per argument
 * and the array of pointers to the slots, instead of a native pointer allocated and freed per argument of each of
 * the hundreds of launches of a training step; the driver copies the values during the call, so the slots can be
 * reused at once. Not thread-safe: one per device, which launches from one thread. CudaDeviceHostTest checks the
 * slots' bytes on the host.
 */
final class KernelArguments implements AutoCloseable {
  static final int MAX_ARGUMENTS = 32;

  private final LongPointer slots = new LongPointer(MAX_ARGUMENTS);
  private final PointerPointer<Pointer> params = new PointerPointer<>(MAX_ARGUMENTS);

  KernelArguments() {
    for (int i = 0; i < MAX_ARGUMENTS; i++) {
      params.put(i, slots.getPointer(i));
    }
  }

  /**
   * Writes the arguments, boxed by their C type as {@link Device#launch} takes them, into the slots (an int or a float
   * in a slot's first 4 bytes, as the driver reads it) and returns the parameter array.
   */
  PointerPointer<Pointer> pack(Object... args) {
    if (args.length > MAX_ARGUMENTS) {
      throw new IllegalArgumentException(args.length + " kernel arguments; at most " + MAX_ARGUMENTS);
    }
    for (int i = 0; i < args.length; i++) {
      Object arg = args[i];
      long bits;
      if (arg instanceof Device.Ptr p) {
        bits = p.address();
      } else if (arg instanceof Long x) {
        bits = x;
      } else if (arg instanceof Integer x) {
        bits = x & 0xffffffffL; // little-endian: the int is the slot's first 4 bytes
      } else if (arg instanceof Float x) {
        bits = Float.floatToRawIntBits(x) & 0xffffffffL;
      } else {
        throw new IllegalArgumentException("kernel argument " + i + " of type "
            + (arg == null ? "null" : arg.getClass().getName()));
      }
      slots.put(i, bits);
    }
    return params;
  }

  @Override
  public void close() {
    params.close();
    slots.close();
  }
}
