package org.mosaicbert.cli;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.mosaicbert.ml.OutputLock;

/**
 * What every subcommand does with an output path before any work: claims it for the run ({@link #claim}), and checks
 * it, so that a certain failure costs seconds, not a training run: the output must not be, or contain, one of the
 * command's inputs (an {@code --overwrite} would delete it), nor lie inside an input folder (a rerun would read it),
 * must not exist unless {@code --overwrite} is given (pretrain and finetune refuse a finished run their own way,
 * naming what a rerun can do), and its folder must be writable.
 */
final class Outputs {
  /** The outputs this thread's subcommand holds, newest last. */
  private static final ThreadLocal<Deque<OutputLock>> CLAIMS = ThreadLocal.withInitial(ArrayDeque::new);

  private Outputs() {}

  /**
   * Takes the lock of {@code output} ({@link OutputLock}) until the subcommand ends ({@link #releaseClaims}), so that
   * no other run writes it meanwhile (refused at once, naming this one), then removes what an earlier run of the
   * same output left when it was killed. The first thing a subcommand does with an output.
   *
   * @param flag how messages name the output ("--output")
   * @param command the subcommand, recorded in the lock for a refused run to read
   */
  static OutputLock claim(String output, String flag, String command, Configuration conf) {
    OutputLock lock = OutputLock.acquire(output, flag, "mosaicbert " + command, conf);
    CLAIMS.get().addLast(lock);
    lock.removeLeftovers();
    return lock;
  }

  /** Releases the outputs this thread's subcommand claimed, newest first. */
  static void releaseClaims() {
    Deque<OutputLock> claims = CLAIMS.get();
    while (!claims.isEmpty()) {
      claims.removeLast().close();
    }
  }

  /**
   * All of the checks below: the output is no input, does not exist unless {@code overwrite}, and can be written.
   *
   * @param flag the output's flag, for messages ("--output")
   * @param inputs the command's input paths (files or folders) that the output must not replace
   */
  static void check(String output, String flag, boolean overwrite, Configuration conf, String... inputs)
      throws IOException {
    refuseInputs(output, flag, conf, inputs);
    if (exists(output, conf) && !overwrite) {
      throw new IllegalArgumentException(output + " exists; give --overwrite to replace it");
    }
    requireWritable(output, flag, conf);
  }

  /**
   * Refuses an output that is, or contains, one of {@code inputs} (replacing or deleting it would delete the input),
   * or lies inside one (a later run would read it as input).
   */
  static void refuseInputs(String output, String flag, Configuration conf, String... inputs) throws IOException {
    Path target = qualified(new Path(output), conf);
    for (String input : inputs) {
      Path in = qualified(org.mosaicbert.data.LiteralPaths.of(input), conf);
      if (isSameOrUnder(in, target)) {
        throw new IllegalArgumentException(flag + " " + output + (in.equals(target) ? " is" : " contains")
            + " the input " + input + ": writing there would delete it, whatever --overwrite says; choose another "
            + flag);
      }
      if (isSameOrUnder(target, in)) {
        throw new IllegalArgumentException(flag + " " + output + " is inside the input folder " + input + ": a later "
            + "run would read the output as input; choose another " + flag + " outside it");
      }
    }
  }

  static boolean exists(String output, Configuration conf) throws IOException {
    Path target = qualified(new Path(output), conf);
    return target.getFileSystem(conf).exists(target);
  }

  /** Fails unless a file can be made beside {@code output}, in a folder made for it when missing. */
  static void requireWritable(String output, String flag, Configuration conf) throws IOException {
    Path target = qualified(new Path(output), conf);
    FileSystem fs = target.getFileSystem(conf);
    Path parent = target.getParent();
    Path probe = new Path(parent, "." + target.getName() + ".probe-" + UUID.randomUUID());
    try {
      fs.mkdirs(parent);
      fs.create(probe, false).close();
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot write in " + parent + " (for " + flag + " " + output + "): "
          + e.getMessage() + "; choose a writable place", e);
    } finally {
      try {
        fs.delete(probe, false);
      } catch (IOException e) {
        // the probe was never made
      }
    }
  }

  private static Path qualified(Path p, Configuration conf) throws IOException {
    return p.getFileSystem(conf).makeQualified(p);
  }

  private static boolean isSameOrUnder(Path path, Path folder) {
    for (Path p = path; p != null; p = p.getParent()) {
      if (p.equals(folder)) {
        return true;
      }
    }
    return false;
  }
}
