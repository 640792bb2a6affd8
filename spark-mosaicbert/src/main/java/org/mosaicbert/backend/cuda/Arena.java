package org.mosaicbert.backend.cuda;

import java.util.Map;
import java.util.TreeMap;

/**
 * The bookkeeping of CudaBackend's one device allocation: regions are carved from it {@value #ALIGN}-byte aligned and
 * may be given back (activations rebuilt at another size), first fit among the regions given back, else from the
 * unused end. Host-side only: the device memory itself is allocated once and never resized.
 */
final class Arena {
  static final long ALIGN = 256;

  private final long base;
  private final long bytes;
  private final String fullAdvice;
  private long used;
  /** Regions given back, offset to bytes; none touches another or the unused end. */
  private final TreeMap<Long, Long> free = new TreeMap<>();

  /** @param fullAdvice what to do when it is full, for the error */
  Arena(long base, long bytes, String fullAdvice) {
    this.base = base;
    this.bytes = bytes;
    this.fullAdvice = fullAdvice;
  }

  /** The address of {@code size} bytes. */
  long carve(long size) {
    long aligned = alignUp(size);
    for (Map.Entry<Long, Long> region : free.entrySet()) {
      if (region.getValue() >= aligned) {
        long at = region.getKey();
        long left = region.getValue() - aligned;
        free.remove(at);
        if (left > 0) {
          free.put(at + aligned, left);
        }
        return base + at;
      }
    }
    long at = alignUp(used);
    if (at + aligned > bytes) {
      throw new IllegalStateException("CudaBackend: the arena of " + bytes + " bytes is full (" + at + " used, "
          + size + " more asked); " + fullAdvice);
    }
    used = at + aligned;
    return base + at;
  }

  /** Gives back the region of {@code size} bytes at {@code address}, merged with its free neighbours. */
  void release(long address, long size) {
    long at = address - base;
    long aligned = alignUp(size);
    Map.Entry<Long, Long> before = free.floorEntry(at);
    if (before != null && before.getKey() + before.getValue() == at) {
      free.remove(before.getKey());
      at = before.getKey();
      aligned += before.getValue();
    }
    Long after = free.remove(at + aligned);
    if (after != null) {
      aligned += after;
    }
    if (at + aligned >= used) {
      used = at;
    } else {
      free.put(at, aligned);
    }
  }

  /** Bytes from the start to the end of the last region in use. */
  long used() {
    return used;
  }

  /** Bytes after the last region in use: the most one new region can take whatever was given back. */
  long unused() {
    return bytes - used;
  }

  private static long alignUp(long size) {
    return (size + ALIGN - 1) / ALIGN * ALIGN;
  }
}
