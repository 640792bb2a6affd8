package org.mosaicbert.cli;

import java.io.OutputStream;
import java.io.PrintStream;
import java.util.function.Supplier;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.util.ShutdownHookManager;
import org.slf4j.LoggerFactory;

/**
 * How a run stopped by Ctrl-C (SIGINT) or SIGTERM ends: with one line saying that it stopped and where its work is,
 * not with the failures of the threads that Spark's shutdown cuts short. The JVM ends the process as usual, with
 * status 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM), running its shutdown hooks; two of them are
 * here, ordered around Spark's own (Hadoop's hook manager, priority 40, which stops the running job): the first notes
 * that the run is stopping, so that {@link Main} does not report the failure that follows as the run's, and silences
 * what other threads print from then on; the second, once Spark has stopped, prints the line. The outputs' locks are
 * released after it ({@code OutputLock}).
 */
final class Interruption {
  /** The exit status of a run stopped by Ctrl-C. */
  static final int EXIT_CODE = 130;

  private static volatile boolean finished;
  private static volatile boolean stopping;
  private static volatile Supplier<String> whereTheWorkIs = () -> "run it again: it removes what this run left";

  private Interruption() {}

  /** Installs the hooks, for the command line {@code commandLine} ("mosaicbert pretrain"), its line going to err. */
  static void install(String commandLine, PrintStream err) {
    ShutdownHookManager hooks = ShutdownHookManager.get();
    hooks.addShutdownHook(() -> {
      stopping = !finished;
      if (stopping) {
        // What threads print as Spark stops under them (futures cut short, a job aborted) is the stop, not news:
        // the line says what happened.
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        System.setOut(quiet);
        System.setErr(quiet);
      }
    }, FileSystem.SHUTDOWN_HOOK_PRIORITY + 40);
    hooks.addShutdownHook(() -> {
      if (stopping) {
        err.println(commandLine + ": stopped before it finished; " + describe());
        err.flush();
      }
    }, FileSystem.SHUTDOWN_HOOK_PRIORITY + 25);
  }

  /** What the line says about the run's work, asked once the run stops (a subcommand that knows more sets it). */
  static void whereTheWorkIs(Supplier<String> description) {
    whereTheWorkIs = description;
  }

  /** Whether the JVM is ending before the subcommand finished: its failures now are the stop's, not its own. */
  static boolean stopping() {
    return stopping;
  }

  /** Ends the process once the subcommand has finished by itself. */
  static void exit(int code) {
    finished = true;
    System.exit(code);
  }

  private static String describe() {
    try {
      return whereTheWorkIs.get();
    } catch (RuntimeException e) {
      LoggerFactory.getLogger(Interruption.class).debug("where the work is", e);
      return "run it again: it removes what this run left";
    }
  }
}
