package org.mosaicbert.train;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.backend.Buffer;
import org.mosaicbert.io.SafeTensors;

/**
 * A training-state checkpoint, {@code train_state.safetensors}: the flat parameters and both AdamW moments, with the
 * step and seed in the metadata, written under a temporary name, flushed and renamed; then
 * {@code train_state.sha256}, likewise. Loading verifies the checksum first, so a torn or damaged checkpoint is
 * refused, never half-used.
 */
public final class TrainState {
  public static final String FILE = "train_state.safetensors";
  public static final String CHECKSUM = "train_state.sha256";
  /** The tensor of the flat parameters. */
  public static final String PARAMS = "params";

  private static final ObjectMapper JSON = new ObjectMapper();

  private TrainState() {}

  /** A checkpoint as read: its state, its step and the settings it was trained with ({@link #SETTINGS}). */
  public record Loaded(float[] params, float[] m, float[] v, int step, Map<String, String> settings) {}

  /** The metadata key of the run's settings, as JSON: param name to value ({@link SettingValues#recorded}). */
  public static final String SETTINGS = "settings";

  /** A checkpoint's weights alone, without the optimizer's moments: what a finished run hands on. */
  public record Weights(float[] params, int step) {}

  public static void write(Path dir, Backend backend, Buffer params, DecoupledAdamW optimizer,
      SettingValues settings) throws IOException {
    Files.createDirectories(dir);
    long n = params.size();
    float[] p = new float[(int) n];
    float[] m = new float[(int) n];
    float[] v = new float[(int) n];
    backend.download(p, 0, params.at(0), p.length);
    backend.download(m, 0, optimizer.firstMoment().at(0), m.length);
    backend.download(v, 0, optimizer.secondMoment().at(0), v.length);
    Map<String, String> metadata = new java.util.TreeMap<>();
    metadata.put("step", Integer.toString(optimizer.stepCount()));
    metadata.put(SETTINGS, JSON.writeValueAsString(settings.recorded()));
    Path file = dir.resolve(FILE);
    SafeTensors.write(file, List.of(SafeTensors.Tensor.f32(PARAMS, p, n), SafeTensors.Tensor.f32("adamw.m", m, n),
        SafeTensors.Tensor.f32("adamw.v", v, n)), metadata);
    Path tmp = dir.resolve("." + CHECKSUM + ".tmp");
    Files.writeString(tmp, sha256(file) + "  " + FILE + "\n", StandardCharsets.UTF_8);
    Files.move(tmp, dir.resolve(CHECKSUM), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  public static Loaded read(Path dir) throws IOException {
    SafeTensors st = openVerified(dir);
    Map<String, String> meta = st.metadata();
    return new Loaded(st.floats(PARAMS), st.floats("adamw.m"), st.floats("adamw.v"),
        Integer.parseInt(meta.get("step")), recordedSettings(meta));
  }

  /**
   * The settings a checkpoint's metadata records: every one since checkpoints record them, the seed alone before.
   */
  public static Map<String, String> recordedSettings(Map<String, String> metadata) {
    String json = metadata.get(SETTINGS);
    if (json == null) {
      return metadata.containsKey("seed") ? Map.of(TrainingSettings.SEED.param(), metadata.get("seed")) : Map.of();
    }
    try {
      return JSON.readValue(json, new TypeReference<java.util.LinkedHashMap<String, String>>() {});
    } catch (IOException e) {
      throw new IllegalArgumentException("the checkpoint's recorded settings are not JSON: " + e.getMessage(), e);
    }
  }

  /** The weights of a checkpoint folder, verified as {@link #read} verifies; the moments are not read. */
  public static Weights readWeights(Path dir) throws IOException {
    SafeTensors st = openVerified(dir);
    return new Weights(st.floats(PARAMS), Integer.parseInt(st.metadata().get("step")));
  }

  /** The training state of {@code dir} once its checksum matches: a torn or damaged file is refused. */
  private static SafeTensors openVerified(Path dir) throws IOException {
    Path file = dir.resolve(FILE);
    Path sum = dir.resolve(CHECKSUM);
    if (!Files.exists(file) || !Files.exists(sum)) {
      throw new IllegalArgumentException(dir + " holds no complete training state (" + FILE + " and " + CHECKSUM
          + "); it was not written, or not finished");
    }
    String expected = Files.readString(sum, StandardCharsets.UTF_8).trim().split("\\s+")[0];
    String actual = sha256(file);
    if (!expected.equals(actual)) {
      throw new IllegalArgumentException(file + " does not match its checksum (" + actual + ", expected " + expected
          + "): the checkpoint is damaged; resume from an earlier one");
    }
    return SafeTensors.open(file);
  }

  static String sha256(Path file) throws IOException {
    try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
      byte[] buffer = new byte[1 << 16];
      while (in.read(buffer) >= 0) {
        // digesting
      }
      return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
    }
  }
}
