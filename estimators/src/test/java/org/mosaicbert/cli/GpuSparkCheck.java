package org.mosaicbert.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.mosaicbert.train.StepMetrics;

/**
 * The Spark half of the GPU check ({@code scripts/gpu-check.sh spark-run}): the command line's own subcommands in
 * local mode, each run with {@code --device gpu} beside {@code --device cpu} on the same seed and data, compared. One
 * phase a JVM (a device fault poisons its own process only), each appending a JSON line to {@code OUT/results.jsonl}:
 *
 * <ul>
 *   <li>{@code fit-tiny}, {@code fit-base}: {@code pretrain} of the preset on the embedded default corpus; the GPU's
 *       loss at every step against the CPU's.
 *   <li>{@code glue}: {@code finetune} of the GPU's tiny model on SST-2 (train rows, dev as --eval) on both devices
 *       (emulated: the GPU alone), then {@code predict} of the GPU's classifier on SST-2 dev on both devices: dev
 *       accuracy on each, and how far the probabilities of the GPU's scoring are from the CPU's.
 *   <li>{@code bench}: {@code bench --precisions --device gpu}: the GPU's scoring tokens/s for base at 128 and 512
 *       tokens beside the CPU's precisions, in the same process.
 * </ul>
 *
 * <p>With {@code --emulated} (a machine without a GPU: the bundle's dry run), the GPUs are the tests' emulated ones
 * ({@code spark.mosaicbert.gpuDevices}) and the runs a few steps long.
 */
public final class GpuSparkCheck {
  /**
   * The largest relative difference of a step's loss from the CPU's. bf16 keeps 8 bits of mantissa (a relative
   * rounding of 0.4% per value); averaged over a batch's tokens that moves a step's loss by hundredths of a percent
   * (the CUDA backend's own 40-step check: 0.02%), and the two runs' weights drift apart a little more each step;
   * a wrong kernel or reduction moves the loss by whole percents within a few steps.
   */
  static final double LOSS_TOLERANCE = 0.01;
  /** The most dev accuracy may differ between the devices, in points: a handful of 872 sentences. */
  static final double ACCURACY_POINTS = 1.5;

  private final Path work;
  private final Path data;
  private final boolean emulated;
  private final PrintStream log = System.out;

  private GpuSparkCheck(Path work, Path data, boolean emulated) {
    this.work = work;
    this.data = data;
    this.emulated = emulated;
  }

  /** {@code --phase fit-tiny|fit-base|glue|bench --out DIR --work DIR --data DIR [--emulated]}. */
  public static void main(String[] args) throws IOException {
    Map<String, String> flags = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--emulated")) {
        flags.put("emulated", "true");
      } else {
        flags.put(args[i].substring(2), args[++i]);
      }
    }
    String phase = flags.get("phase");
    Path out = Path.of(flags.get("out"));
    boolean emulated = flags.containsKey("emulated");
    if (emulated) {
      System.setProperty("spark.mosaicbert.gpuDevices", "org.mosaicbert.backend.cuda.EmulatedGpus");
    }
    GpuSparkCheck check = new GpuSparkCheck(Path.of(flags.get("work")), Path.of(flags.get("data")), emulated);
    long t0 = System.nanoTime();
    String[] result;
    try {
      result = switch (phase) {
        case "fit-tiny" -> check.fit("tiny", emulated ? 3 : 100);
        case "fit-base" -> check.fit("base", 20);
        case "glue" -> check.glue(emulated ? 3 : 200);
        case "bench" -> check.bench();
        default -> throw new IllegalArgumentException("no phase " + phase + " (fit-tiny, fit-base, glue, bench)");
      };
    } catch (Throwable t) {
      t.printStackTrace(System.out);
      result = new String[] {"fail", t.toString()};
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    String summary = (emulated ? "emulated GPUs: " : "") + result[1];
    System.out.printf(Locale.ROOT, "phase %s: %s (%.1f s): %s%n", phase, result[0].toUpperCase(Locale.ROOT), seconds,
        summary);
    Files.createDirectories(out);
    Files.writeString(out.resolve("results.jsonl"), String.format(Locale.ROOT, "{\"phase\": \"%s\", \"status\": "
        + "\"%s\", \"seconds\": %.1f, \"summary\": %s}%n", phase, result[0], seconds,
        new ObjectMapper().writeValueAsString(summary)), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    // exit rather than return: a CUDA context or Spark's threads must not keep the JVM alive
    System.exit(result[0].equals("fail") ? 1 : 0);
  }

  /** Runs a subcommand as bin/mosaicbert would, its output shown; its standard output, or an error on failure. */
  private String command(String... args) {
    log.println("$ mosaicbert " + String.join(" ", args));
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    PrintStream both = new PrintStream(new java.io.OutputStream() {
      @Override
      public void write(int b) {
        captured.write(b);
        log.write(b);
      }
    }, true, StandardCharsets.UTF_8);
    int code = Main.run(args, InputStream.nullInputStream(), both, System.err);
    both.flush();
    if (code != 0) {
      throw new IllegalStateException("mosaicbert " + args[0] + " exited with " + code);
    }
    return captured.toString(StandardCharsets.UTF_8);
  }

  /** The preset pretrained for {@code steps} on each device; the losses step by step, side by side. */
  private String[] fit(String preset, int steps) throws IOException {
    Map<String, List<StepMetrics>> losses = new HashMap<>();
    for (String device : List.of("cpu", "gpu")) {
      Path output = work.resolve(preset + "-" + device);
      long t0 = System.nanoTime();
      List<String> args = new ArrayList<>(List.of("pretrain", "--output", output.toString(), "--preset", preset,
          "--max-steps", Integer.toString(steps), "--batch", emulated ? "8" : "32", "--max-seq-len",
          emulated ? "32" : "128", "--metrics-every", "1", "--seed", "17", "--device", device));
      if (device.equals("gpu")) {
        // The CPU run's shards (the default corpus, tokenized with the vocabulary trained on it): the same data.
        args.addAll(List.of("--data", work.resolve(preset + "-cpu.shards").toString()));
      }
      command(args.toArray(String[]::new));
      log.printf(Locale.ROOT, "%s pretrain on the %s: %.1f s%n", preset, device, (System.nanoTime() - t0) / 1e9);
      losses.put(device, StepMetrics.parseLines(Files.readString(Path.of(output + ".checkpoints")
          .resolve(StepMetrics.FILE_NAME)), output + ".checkpoints"));
    }
    List<StepMetrics> cpu = losses.get("cpu");
    List<StepMetrics> gpu = losses.get("gpu");
    if (cpu.size() != steps || gpu.size() != steps) {
      return new String[] {"fail", "expected " + steps + " metrics lines, got " + cpu.size() + " (cpu) and "
          + gpu.size() + " (gpu)"};
    }
    double largest = 0;
    long largestAt = 0;
    log.printf("%s, loss per step: cpu, gpu, relative difference%n", preset);
    for (int s = 0; s < steps; s++) {
      double difference = Math.abs(gpu.get(s).loss() - cpu.get(s).loss()) / cpu.get(s).loss();
      log.printf(Locale.ROOT, "  step %3d: %.5f  %.5f  (%.3f%%)%n", cpu.get(s).step(), cpu.get(s).loss(),
          gpu.get(s).loss(), 100 * difference);
      if (difference > largest) {
        largest = difference;
        largestAt = cpu.get(s).step();
      }
    }
    String summary = String.format(Locale.ROOT, "%s, %d steps: loss %.4f -> %.4f (cpu), %.4f -> %.4f (gpu); largest "
        + "difference %.3f%% at step %d (tolerance %.1f%%)", preset, steps, cpu.get(0).loss(),
        cpu.get(steps - 1).loss(), gpu.get(0).loss(), gpu.get(steps - 1).loss(), 100 * largest, largestAt,
        100 * LOSS_TOLERANCE);
    return new String[] {largest <= LOSS_TOLERANCE ? "pass" : "fail", summary};
  }

  private static final Pattern ACCURACY = Pattern.compile("accuracy on [^:]+: ([0-9.]+)");

  /**
   * SST-2 fine-tuning of the GPU's tiny model on both devices, then the GPU's classifier scored on both: dev
   * accuracies, and the largest difference of a probability between the GPU's and the CPU's scoring.
   */
  private String[] glue(int steps) throws IOException {
    Path model = work.resolve("tiny-gpu");
    if (!Files.isDirectory(model)) {
      return new String[] {"fail", "no " + model + ": the fit-tiny phase makes it"};
    }
    Path train = data.resolve("SST-2/train.tsv");
    Path dev = data.resolve("SST-2/dev.tsv");
    if (emulated) {
      // The emulated device scores a few hundred tokens a second: 40 dev sentences, not 872.
      Path few = work.resolve("dev-40.tsv");
      Files.write(few, Files.readAllLines(dev).subList(0, 41));
      dev = few;
    }
    Map<String, Double> accuracy = new HashMap<>();
    // Emulated, the GPU's fine-tuning alone: a dry run of the commands, whose results EmulatedGpuTest compares.
    for (String device : emulated ? List.of("gpu") : List.of("cpu", "gpu")) {
      String printed = command("finetune", "--model", model.toString(), "--task", "SST-2", "--train",
          train.toString(), "--eval", dev.toString(), "--output", work.resolve("sst2-" + device).toString(),
          "--max-steps", Integer.toString(steps), "--max-seq-len", "64", "--lr", "1e-3", "--device", device);
      Matcher m = ACCURACY.matcher(printed);
      if (!m.find()) {
        return new String[] {"fail", "finetune printed no accuracy: " + printed};
      }
      accuracy.put(device, Double.parseDouble(m.group(1)));
    }
    Map<String, Map<String, Double>> probability = new HashMap<>();
    for (String device : List.of("cpu", "gpu")) {
      Path scored = work.resolve("sst2-dev-" + device);
      command("predict", "--model", work.resolve("sst2-gpu").toString(), "--input", dev.toString(), "--task",
          "SST-2", "--output", scored.toString(), "--format", "json", "--device", device);
      probability.put(device, positiveProbabilities(scored));
    }
    double largest = 0;
    int disagree = 0;
    for (Map.Entry<String, Double> row : probability.get("cpu").entrySet()) {
      double gpu = probability.get("gpu").get(row.getKey());
      largest = Math.max(largest, Math.abs(gpu - row.getValue()));
      disagree += (gpu > 0.5) != (row.getValue() > 0.5) ? 1 : 0;
    }
    double points = 100 * Math.abs(accuracy.getOrDefault("cpu", accuracy.get("gpu")) - accuracy.get("gpu"));
    String summary = String.format(Locale.ROOT, "SST-2, %d fine-tuning steps: dev accuracy %s%.4f (gpu); the GPU's "
        + "classifier scored on both: largest probability difference %.4f, %d of %d predictions differ", steps,
        accuracy.containsKey("cpu") ? String.format(Locale.ROOT, "%.4f (cpu), ", accuracy.get("cpu")) : "",
        accuracy.get("gpu"), largest, disagree, probability.get("cpu").size());
    boolean pass = points <= ACCURACY_POINTS && probability.get("cpu").size() == probability.get("gpu").size();
    return new String[] {pass ? "pass" : "fail", summary};
  }

  private static final Pattern GPU_ROW = Pattern.compile("(\\d+) sequences of (\\d+) tokens[^\\n]*\\n(?:[^\\n]*\\n)*?"
      + "  gpu +(\\d+) tokens/s +([0-9.]+)x fp32 +embeddings' cosine to fp32: min ([0-9.]+)");

  /** The GPU's scoring tokens/s beside the CPU's precisions (base; tiny on emulated GPUs, whose speed means nothing). */
  private String[] bench() {
    String printed = command("bench", "--precisions", "--preset", emulated ? "tiny" : "base", "--batch-tokens",
        emulated ? "512" : "4096", "--steps", emulated ? "1" : "5", "--device", "gpu");
    List<String> rows = new ArrayList<>();
    Matcher m = GPU_ROW.matcher(printed);
    while (m.find()) {
      rows.add(String.format(Locale.ROOT, "%s tokens: %s tokens/s (%sx the CPU's fp32), embeddings' cosine to fp32 "
          + "min %s", m.group(2), m.group(3), m.group(4), m.group(5)));
    }
    return new String[] {rows.size() == 2 ? "pass" : "fail", rows.size() == 2 ? "GPU scoring of "
        + (emulated ? "tiny" : "base") + ": " + String.join("; ", rows) : "no gpu rows in: " + printed};
  }

  /** Each scored row's probability of class 1, by its text (predict's JSON lines). */
  private static Map<String, Double> positiveProbabilities(Path folder) throws IOException {
    ObjectMapper json = new ObjectMapper();
    Map<String, Double> out = new HashMap<>();
    List<Path> parts;
    try (Stream<Path> files = Files.list(folder)) {
      parts = files.filter(p -> p.getFileName().toString().startsWith("part-")).sorted().toList();
    }
    for (Path part : parts) {
      for (String line : Files.readAllLines(part)) {
        JsonNode row = json.readTree(line);
        out.put(row.get("text").asText(), row.get("probability").get(1).asDouble());
      }
    }
    return out;
  }
}
