package org.mosaicbert.data;

/** A record that cannot be read; the message names the file and line (or row) and what to do. */
public final class BadRecordException extends RuntimeException {
  public BadRecordException(String message) {
    super(message);
  }
}
