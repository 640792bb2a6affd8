package org.mosaicbert.tokenizer;

import java.util.Arrays;

/** A growable {@code int} array: code points and token ids without boxing. Not thread-safe. */
public final class IntList {
  private int[] data;
  private int size;

  public IntList(int capacity) {
    data = new int[Math.max(capacity, 4)];
  }

  public void add(int value) {
    if (size == data.length) {
      data = Arrays.copyOf(data, data.length * 2);
    }
    data[size++] = value;
  }

  public void addAll(int[] values) {
    ensureCapacity(size + values.length);
    System.arraycopy(values, 0, data, size, values.length);
    size += values.length;
  }

  public int get(int index) {
    if (index >= size) {
      throw new IndexOutOfBoundsException("index " + index + " >= size " + size);
    }
    return data[index];
  }

  /** The backing array; valid up to {@link #size()} until the next add. */
  int[] array() {
    return data;
  }

  public int size() {
    return size;
  }

  public void clear() {
    size = 0;
  }

  /** Drops everything from {@code newSize} on. */
  public void truncate(int newSize) {
    if (newSize < 0 || newSize > size) {
      throw new IllegalArgumentException("cannot truncate size " + size + " to " + newSize);
    }
    size = newSize;
  }

  public int[] toArray() {
    return Arrays.copyOf(data, size);
  }

  private void ensureCapacity(int capacity) {
    if (capacity > data.length) {
      data = Arrays.copyOf(data, Math.max(capacity, data.length * 2));
    }
  }
}
