package org.mosaicbert.cli;

/** A command line that cannot be run as written; the message says which flag and what to do. Exit code 2. */
public final class UsageException extends RuntimeException {
  public UsageException(String message) {
    super(message);
  }
}
