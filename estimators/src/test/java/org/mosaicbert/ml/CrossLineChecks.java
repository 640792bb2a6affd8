package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.mosaicbert.testing.WeightComparison.relativeDifference;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;

/**
 * What the tests that move {@link CrossLineModels}' fits between Spark releases check, and how they run the other
 * release: {@code CrossLineModelsTest} (Spark 3.5 against the Spark 4 line) and {@code SparkPatchReleasesIT} (Spark
 * 4.2 against the Spark 4 line's jar on other 4.x releases). Each side is named by a label ("Spark 3.5") in the
 * failures.
 */
final class CrossLineChecks {
  private CrossLineChecks() {}

  /** A child JVM's exit code and the file holding its output. */
  record Child(int exitCode, Path log) {
    /** The end of the child's output, for a failure's message. */
    String output() {
      try {
        String text = Files.readString(log, StandardCharsets.UTF_8);
        String tail = text.length() > 6000 ? "..." + text.substring(text.length() - 6000) : text;
        return "\n--- output of the child JVM (" + log + ") ---\n" + tail;
      } catch (IOException e) {
        return "\n(no output of the child JVM in " + log + ": " + e + ")";
      }
    }
  }

  /**
   * Runs {@link CrossLineModels#main} with {@code args} in a JVM of its own on {@code classPath}, started with the
   * flags Spark needs on Java 17 (the mosaicbert.java17.opens property the estimators POM sets), its output into
   * {@code log}. Fails when it does not end within {@code timeoutSeconds}; any exit code is returned.
   */
  static Child run(List<String> classPath, Path log, long timeoutSeconds, String... args)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(Arrays.asList(System.getProperty("mosaicbert.java17.opens", "").trim().split("\\s+")));
    command.addAll(List.of("-Xmx2g", "-cp", String.join(File.pathSeparator, classPath),
        CrossLineModels.class.getName()));
    command.addAll(Arrays.asList(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    Child child = new Child(0, log);
    if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor();
      fail("the child JVM (" + String.join(" ", args) + ") did not finish in " + timeoutSeconds + " s"
          + child.output());
    }
    return new Child(process.exitValue(), log);
  }

  /**
   * The fits in {@code fitA} and {@code fitB} saved the same MosaicBertModel, alone and as the PipelineModel's first
   * stage: every file of the model folders, weights included, byte for byte; Spark's metadata beside them is not
   * compared (it records the Spark version, a time and a random uid).
   */
  static void assertSameModelFolders(Path fitA, String a, Path fitB, String b) throws IOException {
    assertSameFolder(fitA.resolve(CrossLineModels.MODEL), a, fitB.resolve(CrossLineModels.MODEL), b);
    assertSameFolder(pipelineStage(fitA), a, pipelineStage(fitB), b);
  }

  private static void assertSameFolder(Path folderA, String a, Path folderB, String b) throws IOException {
    List<String> names = modelFiles(folderA);
    assertEquals(names, modelFiles(folderB), "the files of the model folders " + folderA + " (" + a + ") and "
        + folderB + " (" + b + ")");
    assertTrue(names.contains(ModelFolder.WEIGHTS), folderA + " holds no " + ModelFolder.WEIGHTS + ": " + names);
    for (String name : names) {
      long mismatch = Files.mismatch(folderA.resolve(name), folderB.resolve(name));
      if (mismatch != -1) {
        String weights = name.equals(ModelFolder.WEIGHTS) ? "; " + parameterDifference(folderA, a, folderB, b) : "";
        fail(name + " differs between the fit under " + a + " (" + folderA.resolve(name) + ", "
            + Files.size(folderA.resolve(name)) + " bytes) and under " + b + " (" + folderB.resolve(name) + ", "
            + Files.size(folderB.resolve(name)) + " bytes), from byte " + mismatch + weights);
      }
    }
  }

  /** Which parameters differ between two model folders' weights, and by how much. */
  private static String parameterDifference(Path folderA, String a, Path folderB, String b) {
    float[] x = ModelFolder.read(folderA.toString(), new Configuration()).parameters();
    float[] y = ModelFolder.read(folderB.toString(), new Configuration()).parameters();
    if (x.length != y.length) {
      return x.length + " parameters under " + a + ", " + y.length + " under " + b;
    }
    int first = -1;
    int count = 0;
    for (int i = 0; i < x.length; i++) {
      if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i])) {
        first = first < 0 ? i : first;
        count++;
      }
    }
    return count == 0 ? "every parameter has the same bits (the file's header differs)" : count + " of " + x.length
        + " parameters differ, the first at index " + first + " (" + x[first] + " under " + a + ", " + y[first]
        + " under " + b + "); relative difference of the whole " + relativeDifference(x, y);
  }

  /** The files a model folder holds for the model itself, without Spark's metadata folder. */
  private static List<String> modelFiles(Path folder) throws IOException {
    try (Stream<Path> files = Files.list(folder)) {
      return files.filter(Files::isRegularFile).map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  /** The PipelineModel's first stage's folder (stages/0_UID), the MosaicBertModel. */
  private static Path pipelineStage(Path fit) throws IOException {
    try (Stream<Path> stages = Files.list(fit.resolve(CrossLineModels.PIPELINE).resolve("stages"))) {
      return stages.filter(p -> p.getFileName().toString().startsWith("0_")).findFirst()
          .orElseThrow(() -> new AssertionError("no stage 0 in " + fit.resolve(CrossLineModels.PIPELINE)));
    }
  }

  /**
   * The two scores files hold the same rows, scored by the model and by the pipeline, with the same bits.
   *
   * @param direction what was compared with what, for the failure
   * @param context appended to a failure (the child JVM's output)
   */
  static void assertSameScores(String direction, Path expectedFile, Path actualFile, String context)
      throws IOException {
    Map<String, double[]> expected = CrossLineModels.readScores(expectedFile);
    Map<String, double[]> actual = CrossLineModels.readScores(actualFile);
    assertEquals(CrossLineModels.SCORED_ROWS * 2, expected.size(), expectedFile + ": rows scored by the model and by "
        + "the pipeline");
    assertEquals(expected.keySet(), actual.keySet(), direction + ": not the same rows scored" + context);
    for (Map.Entry<String, double[]> e : expected.entrySet()) {
      double[] want = e.getValue();
      double[] got = actual.get(e.getKey());
      if (want.length != got.length) {
        fail(direction + ": " + e.getKey() + " has " + got.length + " values, not " + want.length + context);
      }
      List<String> differences = new ArrayList<>();
      for (int j = 0; j < want.length; j++) {
        if (Double.doubleToRawLongBits(want[j]) != Double.doubleToRawLongBits(got[j])) {
          differences.add("[" + j + "] " + want[j] + " vs " + got[j]);
        }
      }
      if (!differences.isEmpty()) {
        fail(direction + ": " + e.getKey() + " differs in " + differences.size() + " of " + want.length
            + " values: " + String.join(", ", differences.subList(0, Math.min(5, differences.size()))) + context);
      }
    }
  }
}
