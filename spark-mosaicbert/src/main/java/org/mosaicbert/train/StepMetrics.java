package org.mosaicbert.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * One line of {@code metrics.jsonl}, the training log rank 0 appends to beside the checkpoints: this class alone writes
 * and reads it (the driver's progress display, the command line's summary, the notebooks' {@code spark.read.json}
 * read its keys).
 *
 * @param step optimizer steps done
 * @param loss the mean loss of the step's global batch
 * @param accuracy masked-token accuracy (MLM) or the share of sequences classified right
 * @param lr the learning rate of the step
 * @param gradientNorm the L2 norm of the step's gradient, all workers' together
 * @param computeSeconds forward, backward and optimizer; {@code allreduceSeconds} the gradient allreduce
 */
public record StepMetrics(long step, long totalSteps, double loss, double accuracy, double lr, double gradientNorm,
    double tokensPerSecond, double stepSeconds, double computeSeconds, double allreduceSeconds) {
  /** The log's name in the checkpoint folder. */
  public static final String FILE_NAME = "metrics.jsonl";

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The line's JSON, without its newline. */
  public String toJsonLine() {
    ObjectNode json = JSON.createObjectNode();
    json.put("step", step);
    json.put("loss", loss);
    json.put("accuracy", accuracy);
    json.put("lr", lr);
    json.put("grad_norm", gradientNorm);
    json.put("tokens_per_s", tokensPerSecond);
    json.put("step_s", stepSeconds);
    json.put("compute_s", computeSeconds);
    json.put("allreduce_s", allreduceSeconds);
    json.put("total_steps", totalSteps);
    return json.toString();
  }

  /**
   * The complete lines of a log's text, in order. A last line without its newline is still being written and is left
   * for the next read; a line that is not a metrics object is an error naming {@code source} and the line.
   */
  public static List<StepMetrics> parseLines(String text, String source) {
    List<StepMetrics> out = new ArrayList<>();
    int start = 0;
    for (int end = text.indexOf('\n'); end >= 0; start = end + 1, end = text.indexOf('\n', start)) {
      String line = text.substring(start, end);
      if (!line.isBlank()) {
        out.add(parse(line, source + ", line " + (out.size() + 1)));
      }
    }
    return out;
  }

  /**
   * The complete lines of a log's text whose step is at most {@code step}, each with its newline, as they were
   * written; a line that is not a metrics line goes too (the line being written when a run was killed).
   */
  public static String linesUpTo(String text, long step) {
    StringBuilder kept = new StringBuilder();
    int start = 0;
    for (int end = text.indexOf('\n'); end >= 0; start = end + 1, end = text.indexOf('\n', start)) {
      String line = text.substring(start, end);
      JsonNode m;
      try {
        m = JSON.readTree(line);
      } catch (JsonProcessingException e) {
        continue;
      }
      if (m != null && m.isObject() && m.path("step").canConvertToLong() && m.path("step").asLong() <= step) {
        kept.append(line).append('\n');
      }
    }
    return kept.toString();
  }

  private static StepMetrics parse(String line, String where) {
    JsonNode m;
    try {
      m = JSON.readTree(line);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(where + " is not JSON: " + e.getOriginalMessage());
    }
    if (m == null || !m.isObject() || !m.path("step").canConvertToLong()) {
      throw new IllegalArgumentException(where + " is not a metrics line (an object with a step)");
    }
    return new StepMetrics(m.path("step").asLong(), m.path("total_steps").asLong(), number(m, "loss"),
        number(m, "accuracy"), number(m, "lr"), number(m, "grad_norm"), number(m, "tokens_per_s"),
        number(m, "step_s"), number(m, "compute_s"), number(m, "allreduce_s"));
  }

  /** A key's number; NaN when absent (a log written before the key existed). */
  private static double number(JsonNode m, String key) {
    return m.path(key).asDouble(Double.NaN);
  }
}
