package org.mosaicbert.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/** What our Spark jobs share: atomic outputs, and errors that come back from executors readable. */
public final class SparkJobs {
  private SparkJobs() {}

  /**
   * Runs a job that writes to a fresh temporary path beside {@code output} (a file or a folder), then renames it to
   * {@code output}. A failed job leaves nothing behind; an existing output is replaced only with {@code overwrite}.
   *
   * @param write writes the temporary path given as its argument
   */
  public static <T> T writeAtomically(String output, boolean overwrite, Configuration conf,
      java.util.function.Function<Path, T> write) {
    Path target = new Path(output);
    try {
      FileSystem fs = target.getFileSystem(conf);
      if (fs.exists(target) && !overwrite) {
        throw new IllegalArgumentException("output " + output + " already exists; replace it (overwrite) or choose "
            + "another output");
      }
      Path tmp = new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID());
      boolean done = false;
      try {
        T result = rethrowExecutorErrors(() -> write.apply(tmp));
        if (fs.exists(target) && !fs.delete(target, true)) {
          throw new IOException("cannot delete the old output " + target);
        }
        if (!fs.rename(tmp, target)) {
          throw new IOException("cannot rename " + tmp + " to " + target);
        }
        done = true;
        return result;
      } finally {
        if (!done) {
          fs.delete(tmp, true);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + output + ": " + e.getMessage(), e);
    }
  }

  /**
   * Runs an action and turns a failure caused by bad input on an executor back into an
   * {@link IllegalArgumentException} with the executor's message (file, line, remedy), not Spark's stage dump.
   */
  public static <T> T rethrowExecutorErrors(Callable<T> action) {
    try {
      return action.call();
    } catch (IllegalArgumentException | UncheckedIOException e) {
      throw e;
    } catch (Exception e) {
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof BadRecordException) {
          throw new IllegalArgumentException(t.getMessage(), e);
        }
      }
      String marker = BadRecordException.class.getName() + ": ";
      String message = String.valueOf(e.getMessage());
      int at = message.indexOf(marker);
      if (at >= 0) {
        int end = message.indexOf('\n', at);
        throw new IllegalArgumentException(message.substring(at + marker.length(), end < 0 ? message.length() : end), e);
      }
      if (e instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(e);
    }
  }
}
