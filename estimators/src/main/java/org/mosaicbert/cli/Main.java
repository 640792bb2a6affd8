package org.mosaicbert.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
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

  private Main() {}

  public static void main(String[] args) {
    // System.exit: Spark's barrier-mode timer and other non-daemon threads must not keep the JVM alive.
    System.exit(run(args, System.in, System.out, System.err));
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
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    if (Arrays.asList(rest).contains("--help") || Arrays.asList(rest).contains("-h")) {
      out.print(command.help());
      return 0;
    }
    return run(command, rest, in, out, err);
  }

  /**
   * Runs one subcommand; any {@link Throwable} becomes exit code 1 with its message. Errors too: a full disk surfaces
   * as Hadoop's {@code FSError}, an {@code Error}, and escaping here it skipped {@code System.exit}, so Spark's
   * non-daemon threads kept the JVM alive forever.
   */
  static int run(Subcommand command, String[] rest, InputStream in, PrintStream out, PrintStream err) {
    PrintStream stdout = System.out;
    System.setOut(err);
    try {
      int code = command.run(rest, in, out);
      out.flush();
      return code;
    } catch (UsageException e) {
      err.println(e.getMessage());
      return 2;
    } catch (IllegalArgumentException e) {
      err.println(command.name() + ": " + e.getMessage() + flagsNamed(String.valueOf(e.getMessage()), command.help()));
      return 1;
    } catch (Throwable e) {
      err.println(command.name() + " failed: " + e);
      e.printStackTrace(err);
      return 1;
    } finally {
      System.setOut(stdout);
    }
  }

  /**
   * The library's errors name params and recipe keys, which Java and Scala users set; on the command line, the flags
   * of the params a message names (a training setting's declared flag, else the param's name in kebab case), where
   * the subcommand has such a flag: " (on the command line: maxSeqLen is --max-seq-len)".
   */
  static String flagsNamed(String message, String help) {
    Set<String> names = new LinkedHashSet<>();
    Matcher words = Pattern.compile("\\b[a-z]+(?:[A-Z][a-z0-9]*)+\\b").matcher(message);
    while (words.find()) {
      String param = words.group();
      Setting<?> setting = TrainingSettings.byParam(param);
      String flag = setting != null ? setting.flag() : param.replaceAll("([A-Z])", "-$1").toLowerCase(Locale.ROOT);
      if (Pattern.compile("--" + flag + "\\b").matcher(help).find() && !message.contains("--" + flag)) {
        names.add(param + " is --" + flag);
      }
    }
    return names.isEmpty() ? "" : " (on the command line: " + String.join(", ", names) + ")";
  }

  static String overview() {
    StringBuilder s = new StringBuilder("usage: mosaicbert SUBCOMMAND [flags]   (mosaicbert SUBCOMMAND --help for its flags)\n\n"
        + "subcommands:\n");
    for (Subcommand c : SUBCOMMANDS) {
      s.append(String.format("  %-14s %s%n", c.name(), c.summary()));
    }
    return s.toString();
  }
}
