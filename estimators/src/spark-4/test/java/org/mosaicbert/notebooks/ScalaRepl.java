package org.mosaicbert.notebooks;

import java.io.PrintWriter;
import scala.tools.nsc.Settings;
import scala.tools.nsc.interpreter.IMain;
import scala.tools.nsc.interpreter.shell.ReplReporterImpl;

/** The Scala 2.13 REPL (Spark 4's line), started with its compiler ready. */
final class ScalaRepl {
  private ScalaRepl() {}

  static IMain start(Settings settings, PrintWriter out) {
    IMain repl = new IMain(settings, new ReplReporterImpl(settings, out));
    if (!repl.initializeCompiler()) {
      throw new IllegalStateException("the Scala 2.13 REPL's compiler did not start");
    }
    return repl;
  }
}
