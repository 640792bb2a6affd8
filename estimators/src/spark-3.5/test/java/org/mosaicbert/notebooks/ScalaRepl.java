package org.mosaicbert.notebooks;

import java.io.PrintWriter;
import scala.tools.nsc.Settings;
import scala.tools.nsc.interpreter.IMain;

/** The Scala 2.12 REPL (Spark 3.5's line), started with its compiler ready. */
final class ScalaRepl {
  private ScalaRepl() {}

  static IMain start(Settings settings, PrintWriter out) {
    IMain repl = new IMain(settings, out);
    repl.initializeSynchronous();
    return repl;
  }
}
