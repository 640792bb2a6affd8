package org.mosaicbert.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Set;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.io.GoldenVectors;

/** {@code check-vectors DIR}: the engine against a golden-vector folder; PASS or FAIL. */
final class CheckVectorsCommand implements Subcommand {
  @Override
  public String name() {
    return "check-vectors";
  }

  @Override
  public String summary() {
    return "check the engine against golden vectors (outputs, losses, every gradient)";
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert check-vectors DIR [--threads N]

        Loads config.json, model.safetensors and inputs.safetensors from DIR (the format of
        shared/reference/README.md), runs forward and backward for the MLM and the classification heads, and compares
        with outputs.safetensors, grads_mlm.safetensors and grads_cls.safetensors. One row per tensor: largest
        absolute error, largest relative error, relative Frobenius error. Ends with PASS or FAIL (exit status 0 only
        on PASS): outputs within |a-b| <= 2e-5 + 1e-4|b|, losses within 1e-5 relative, every gradient with a relative
        Frobenius error below 1e-4.

          --threads N   CPU threads (default: all cores)
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) {
    if (argv.length == 0 || argv[0].startsWith("--")) {
      throw new UsageException("check-vectors: give the golden-vector folder first (see check-vectors --help)");
    }
    Args args = Args.parse(name(), java.util.Arrays.copyOfRange(argv, 1, argv.length), Set.of("threads"), Set.of());
    int threads = args.intValue("threads", Runtime.getRuntime().availableProcessors(), 1);
    GoldenVectors.Report report = GoldenVectors.check(Path.of(argv[0]), new CpuBackend(threads), out);
    return report.pass() ? 0 : 1;
  }
}
