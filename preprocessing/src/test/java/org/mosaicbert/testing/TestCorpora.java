package org.mosaicbert.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** The real texts of {@code ../shared/data}, read for tests: C4 documents and GLUE sentences (pairs where a task has them). */
public final class TestCorpora {
  private TestCorpora() {}

  /** Every C4 document under {@code shared/data/c4}: the 1,000-line JSONL and the three gzipped fixtures. */
  public static List<String> c4Documents() {
    Path dir = SharedTestData.path("data/c4");
    List<String> docs = new ArrayList<>();
    ObjectMapper json = new ObjectMapper();
    try (var files = Files.walk(dir)) {
      for (Path file : files.filter(Files::isRegularFile).sorted().toList()) {
        try (InputStream raw = Files.newInputStream(file);
            InputStream in = file.toString().endsWith(".gz") ? new GZIPInputStream(raw) : raw;
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
          for (String line = reader.readLine(); line != null; line = reader.readLine()) {
            if (!line.isBlank()) {
              docs.add(json.readTree(line).get("text").asText());
            }
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return docs;
  }

  /** One GLUE example's texts: {@code b} is null for single-sentence tasks. */
  public record TextPair(String source, String a, String b) {}

  /** Every example of every GLUE TSV in {@code shared/data/glue} (split on tabs only, no CSV quoting). */
  public static List<TextPair> glueExamples() {
    List<TextPair> out = new ArrayList<>();
    addGlue(out, "CoLA/train.tsv", false, 3, -1);
    addGlue(out, "CoLA/dev.tsv", false, 3, -1);
    addGlue(out, "SST-2/train.tsv", true, 0, -1);
    addGlue(out, "SST-2/dev.tsv", true, 0, -1);
    addGlue(out, "MRPC/train.tsv", true, 3, 4);
    addGlue(out, "MRPC/dev.tsv", true, 3, 4);
    addGlue(out, "STS-B/train.tsv", true, 7, 8);
    addGlue(out, "STS-B/dev.tsv", true, 7, 8);
    addGlue(out, "QNLI/dev.tsv", true, 1, 2);
    addGlue(out, "RTE/train.tsv", true, 1, 2);
    addGlue(out, "RTE/dev.tsv", true, 1, 2);
    addGlue(out, "WNLI/train.tsv", true, 1, 2);
    addGlue(out, "WNLI/dev.tsv", true, 1, 2);
    return out;
  }

  private static void addGlue(List<TextPair> out, String file, boolean header, int colA, int colB) {
    Path path = SharedTestData.path("data/glue/" + file);
    List<String> lines;
    try {
      lines = Files.readAllLines(path, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    for (int row = header ? 1 : 0; row < lines.size(); row++) {
      String[] cols = lines.get(row).split("\t", -1);
      if (cols.length <= Math.max(colA, colB)) {
        throw new IllegalStateException(path + " row " + row + " has " + cols.length + " columns");
      }
      out.add(new TextPair(file + ":" + row, cols[colA], colB < 0 ? null : cols[colB]));
    }
  }
}
