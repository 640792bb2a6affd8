package org.mosaicbert.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.mosaicbert.train.Setting;
import org.mosaicbert.train.TrainingSettings;

/**
 * The {@code mosaicbert} command line: {@code mosaicbert SUBCOMMAND [flags]}, locally through {@code bin/mosaicbert}
 * or on a cluster through {@code spark-submit --class org.mosaicbert.cli.Main spark-mosaicbert.jar SUBCOMMAND ...}.
 *
 * <p>Only results go to standard output. Everything else, Spark's logs included, goes to standard error: while a
 * subcommand runs, {@code System.out} itself points at standard error, so a library that prints cannot mix its
 * text into the results.
 */
public final class Main {
  static final List<Subcommand> SUBCOMMANDS = List.of(new TrainVocabCommand(), new TokenizeCommand(),
      new PretrainCommand(), new FinetuneCommand(), new GlueCommand(), new PredictCommand(), new ExportCommand(),
      new ImportCommand(), new BenchCommand(), new CheckVectorsCommand(), new EncodeCommand());

  /** The flag, given anywhere on a command line, that prints a failure's stack trace. */
  static final String VERBOSE = "--verbose";

  private Main() {}

  public static void main(String[] args) {
    Interruption.install("mosaicbert" + (args.length > 0 ? " " + args[0] : ""), System.err);
    // System.exit: the exit status tells a script how the command ended (0 ok, 1 failed, 2 bad command line).
    Interruption.exit(run(args, System.in, System.out, System.err));
  }

  /** Runs one command line; returns the exit code (0 ok, 1 failed, 2 bad command line). */
  public static int run(String[] args, InputStream in, PrintStream out, PrintStream err) {
    if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help")) {
      (args.length == 0 ? err : out).print(overview());
      return args.length == 0 ? 2 : 0;
    }
    Subcommand command = SUBCOMMANDS.stream().filter(c -> c.name().equals(args[0])).findFirst().orElse(null);
    if (command == null) {
      err.println("mosaicbert: unknown subcommand '" + args[0] + "'\n");
      err.print(overview());
      return 2;
    }
    List<String> rest = new ArrayList<>(Arrays.asList(args).subList(1, args.length));
    if (rest.contains("--help") || rest.contains("-h")) {
      out.print(Help.layout(command.help()));
      return 0;
    }
    boolean verbose = rest.remove(VERBOSE);
    return run(command, renamed(command, rest, err), in, out, err, verbose);
  }

  /**
   * The arguments with each flag that {@code command} has renamed ({@code --out}, {@code --out=DIR}) under its new
   * name, and a line on {@code err} for each such flag: "--out is deprecated; use --output".
   */
  static String[] renamed(Subcommand command, List<String> args, PrintStream err) {
    String[] out = args.toArray(String[]::new);
    command.renamedFlags().forEach((old, now) -> {
      boolean used = false;
      for (int i = 0; i < out.length; i++) {
        if (out[i].equals("--" + old) || out[i].startsWith("--" + old + "=")) {
          out[i] = "--" + now + out[i].substring(2 + old.length());
          used = true;
        }
      }
      if (used) {
        err.println(command.name() + ": --" + old + " is deprecated; use --" + now);
      }
    });
    return out;
  }

  /**
   * Runs one subcommand; any {@link Throwable} becomes exit code 1 with its message. Errors too: a full disk surfaces
   * as Hadoop's {@code FSError}, an {@code Error}, which escaping here would end the JVM with a stack trace instead of
   * the one line.
   */
  static int run(Subcommand command, String[] rest, InputStream in, PrintStream out, PrintStream err,
      boolean verbose) {
    PrintStream stdout = System.out;
    System.setOut(err);
    try {
      int code = command.run(rest, in, out);
      out.flush();
      return code;
    } catch (UsageException e) {
      err.println(e.getMessage());
      return 2;
    } catch (Throwable e) {
      if (Interruption.stopping()) {
        return Interruption.EXIT_CODE; // Ctrl-C or SIGTERM cut it short: a shutdown hook says so, in one line
      }
      IllegalArgumentException refused = refusal(e);
      if (refused != null) {
        err.println(command.name() + ": " + withFlags(String.valueOf(refused.getMessage()), command.help()));
        return 1;
      }
      // A sentence, not a stack trace: what went wrong, as the exception that says it says it; the trace on request.
      err.println(command.name() + " failed: " + whatWentWrong(e));
      if (verbose) {
        e.printStackTrace(err);
      } else {
        err.println("(" + VERBOSE + " prints the stack trace)");
      }
      return 1;
    } finally {
      System.setOut(stdout);
    }
  }

  /**
   * The message of the first exception in {@code e}'s chain that says something of its own: not Spark's wrapper of a
   * task's failure, nor one whose message only repeats its cause (an {@code IOError} around an {@code IOException}).
   * Its class when none does.
   */
  static String whatWentWrong(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      String message = t.getMessage();
      boolean wrapper = t instanceof org.apache.spark.SparkException
          || (t.getCause() != null && String.valueOf(t.getCause()).equals(message));
      if (message != null && !message.isBlank() && !wrapper) {
        return message;
      }
    }
    return e.toString();
  }

  /**
   * What refused the input, when {@code e} is a refusal: an {@link IllegalArgumentException}, thrown here or inside
   * a Spark task (which reaches the driver as the cause of Spark's own exception). Null for any other failure.
   */
  private static IllegalArgumentException refusal(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof IllegalArgumentException refused) {
        return refused;
      }
      if (!(t instanceof org.apache.spark.SparkException)) {
        return null;
      }
    }
    return null;
  }

  /**
   * A library error as the command line says it. The library names params, options and recipe keys, which Java and
   * Scala callers set; here each param or option the message names becomes the flag of this subcommand that sets it
   * (a training setting's declared flag, else the name in kebab case), where the subcommand has one: "maxSeqLen must
   * be at least 3" reads "--max-seq-len must be at least 3". A name is a camelCase word, or a plain word followed by
   * " must" or " =" (as "format must be auto, ...").
   */
  static String withFlags(String message, String help) {
    Matcher names = Pattern.compile("\\b[a-z]+(?:[A-Z][a-z0-9]*)+\\b|\\b[a-z]+\\b(?= must | = )").matcher(message);
    return names.replaceAll(m -> {
      Setting<?> setting = TrainingSettings.byParam(m.group());
      String flag = "--" + (setting != null ? setting.flag()
          : m.group().replaceAll("([A-Z])", "-$1").toLowerCase(Locale.ROOT));
      boolean taken = Pattern.compile(Pattern.quote(flag) + "(?![\\w-])").matcher(help).find();
      return Matcher.quoteReplacement(taken ? flag : m.group());
    });
  }

  static String overview() {
    StringBuilder s = new StringBuilder("usage: mosaicbert SUBCOMMAND [flags]   (mosaicbert SUBCOMMAND --help for its flags)\n\n"
        + "subcommands:\n");
    for (Subcommand c : SUBCOMMANDS) {
      s.append(Help.flag(c.name(), c.summary()));
    }
    return s.append("\nA failure prints one line saying what went wrong; add ").append(VERBOSE)
        .append(" anywhere for its stack trace.\n").toString();
  }
}
