package org.mosaicbert.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header (name to dtype, shape and data
 * offsets), then raw little-endian row-major data. The header is untrusted input: every offset, size and shape is
 * checked before any data is touched, so a bad file gives a clear error, never a crash or an out-of-memory.
 */
public final class SafeTensors {
  /** Headers beyond this are refused (real ones are kilobytes). */
  static final long MAX_HEADER_BYTES = 100L << 20;

  public enum DType {
    F32(4), BF16(2), F16(2), I64(8), I32(4);

    public final int bytes;

    DType(int bytes) {
      this.bytes = bytes;
    }
  }

  /** One tensor's entry in the header; {@code offset} is from the start of the file. */
  public record Entry(String name, DType dtype, long[] shape, long offset, long length) {
    public long elements() {
      return length / dtype.bytes;
    }

    public String shapeString() {
      return Arrays.toString(shape);
    }
  }

  private final Path file;
  private final Map<String, Entry> entries;
  private final Map<String, String> metadata;

  private SafeTensors(Path file, Map<String, Entry> entries, Map<String, String> metadata) {
    this.file = file;
    this.entries = entries;
    this.metadata = metadata;
  }

  /** Reads and checks the header of a safetensors file (the data is read on demand). */
  public static SafeTensors open(Path file) {
    String name = file.getFileName().toString();
    if (name.endsWith(".bin") || name.endsWith(".pt") || name.endsWith(".pth") || name.endsWith(".ckpt")) {
      throw new IllegalArgumentException(file + " is a PyTorch pickle; it is not read because unpickling runs code "
          + "from the file. Convert it to safetensors in Python: `from safetensors.torch import save_file; "
          + "save_file(torch.load(path, weights_only=True), 'model.safetensors')`");
    }
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = channel.size();
      if (size < 8) {
        throw bad(file, "is " + size + " bytes long, shorter than the 8-byte header length");
      }
      ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(channel, lengthBytes, 0);
      long headerLength = lengthBytes.getLong(0);
      if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || headerLength > size - 8) {
        throw bad(file, "declares a header of " + headerLength + " bytes, but the file has " + (size - 8)
            + " bytes after the length (and headers are at most " + MAX_HEADER_BYTES + ")");
      }
      ByteBuffer header = ByteBuffer.allocate((int) headerLength);
      readFully(channel, header, 8);
      JsonNode json;
      try {
        json = new ObjectMapper().readTree(new String(header.array(), StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw bad(file, "has a header that is not valid JSON: " + e.getMessage());
      }
      if (json == null || !json.isObject()) {
        throw bad(file, "has a header that is not a JSON object");
      }
      long dataStart = 8 + headerLength;
      return new SafeTensors(file, parseEntries(file, json, dataStart, size - dataStart), parseMetadata(json));
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(file + " does not exist", e);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /** What a safetensors header says: each tensor's shape, and the metadata. */
  public record Header(Map<String, long[]> shapes, Map<String, String> metadata) {}

  /**
   * The header of a safetensors file from the start of its stream, read alone: how a checkpoint on any file system
   * says what it holds and what it was trained with without its gigabytes being read.
   *
   * @param name the file, for messages
   */
  public static Header readHeader(java.io.InputStream in, String name) throws IOException {
    java.io.DataInputStream data = new java.io.DataInputStream(in);
    long headerLength = Long.reverseBytes(data.readLong());
    if (headerLength < 2 || headerLength > MAX_HEADER_BYTES) {
      throw new IllegalArgumentException("safetensors file " + name + " declares a header of " + headerLength
          + " bytes; the file is damaged or not a safetensors file");
    }
    byte[] header = new byte[(int) headerLength];
    data.readFully(header);
    JsonNode json = new ObjectMapper().readTree(new String(header, StandardCharsets.UTF_8));
    Map<String, long[]> shapes = new LinkedHashMap<>();
    json.fields().forEachRemaining(f -> {
      if (!f.getKey().equals("__metadata__")) {
        long[] shape = new long[f.getValue().path("shape").size()];
        for (int i = 0; i < shape.length; i++) {
          shape[i] = f.getValue().path("shape").get(i).asLong();
        }
        shapes.put(f.getKey(), shape);
      }
    });
    return new Header(shapes, parseMetadata(json));
  }

  private static Map<String, Entry> parseEntries(Path file, JsonNode json, long dataStart, long dataLength) {
    Map<String, Entry> entries = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = json.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> field = it.next();
      String name = field.getKey();
      if (name.equals("__metadata__")) {
        continue;
      }
      JsonNode node = field.getValue();
      DType dtype;
      try {
        dtype = DType.valueOf(node.path("dtype").asText());
      } catch (IllegalArgumentException e) {
        throw bad(file, "tensor " + name + " has dtype '" + node.path("dtype").asText() + "'; supported: "
            + Arrays.toString(DType.values()));
      }
      JsonNode shapeNode = node.path("shape");
      JsonNode offsets = node.path("data_offsets");
      if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
        throw bad(file, "tensor " + name + " needs a shape array and two data_offsets");
      }
      long[] shape = new long[shapeNode.size()];
      long elements = 1;
      for (int i = 0; i < shape.length; i++) {
        shape[i] = shapeNode.get(i).asLong(-1);
        if (!shapeNode.get(i).canConvertToLong() || shape[i] < 0) {
          throw bad(file, "tensor " + name + " has a bad shape " + shapeNode);
        }
        elements = Math.multiplyHigh(elements, shape[i]) != 0 ? -1 : elements * shape[i];
        if (elements < 0 || elements > dataLength) {
          throw bad(file, "tensor " + name + " has shape " + shapeNode + ", more elements than the file holds");
        }
      }
      long begin = offsets.get(0).asLong(-1);
      long end = offsets.get(1).asLong(-1);
      if (begin < 0 || end < begin || end > dataLength) {
        throw bad(file, "tensor " + name + " has data_offsets [" + begin + ", " + end + "] outside the data section of "
            + dataLength + " bytes");
      }
      if (end - begin != elements * dtype.bytes) {
        throw bad(file, "tensor " + name + " has " + (end - begin) + " bytes of data, but " + dtype + " " + shapeNode
            + " needs " + elements * dtype.bytes);
      }
      entries.put(name, new Entry(name, dtype, shape, dataStart + begin, end - begin));
    }
    List<Entry> byOffset = new ArrayList<>(entries.values());
    byOffset.sort((a, b) -> Long.compare(a.offset(), b.offset()));
    for (int i = 1; i < byOffset.size(); i++) {
      Entry previous = byOffset.get(i - 1);
      Entry current = byOffset.get(i);
      if (current.offset() < previous.offset() + previous.length()) {
        throw bad(file, "tensors " + previous.name() + " and " + current.name() + " overlap in the data section");
      }
    }
    return Collections.unmodifiableMap(entries);
  }

  private static Map<String, String> parseMetadata(JsonNode json) {
    Map<String, String> metadata = new TreeMap<>();
    json.path("__metadata__").fields().forEachRemaining(e -> metadata.put(e.getKey(), e.getValue().asText()));
    return metadata;
  }

  private static IllegalArgumentException bad(Path file, String problem) {
    return new IllegalArgumentException("safetensors file " + file + " " + problem
        + "; the file is damaged or not a safetensors file");
  }

  private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
    while (buffer.hasRemaining()) {
      int n = channel.read(buffer, position + buffer.position());
      if (n < 0) {
        throw new IOException("unexpected end of file");
      }
    }
  }

  public Path file() {
    return file;
  }

  public Map<String, Entry> entries() {
    return entries;
  }

  public Map<String, String> metadata() {
    return metadata;
  }

  public boolean has(String name) {
    return entries.containsKey(name);
  }

  public Entry entry(String name) {
    Entry e = entries.get(name);
    if (e == null) {
      throw new IllegalArgumentException(file + " has no tensor " + name);
    }
    return e;
  }

  private ByteBuffer bytes(Entry e) {
    if (e.length() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("tensor " + e.name() + " in " + file + " is over 2 GiB; split the checkpoint");
    }
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer buffer = ByteBuffer.allocate((int) e.length()).order(ByteOrder.LITTLE_ENDIAN);
      readFully(channel, buffer, e.offset());
      buffer.flip();
      return buffer;
    } catch (IOException ex) {
      throw new IllegalArgumentException("cannot read tensor " + e.name() + " from " + file + ": " + ex.getMessage(), ex);
    }
  }

  /** A floating-point tensor (F32, BF16 or F16) as float32 values. */
  public float[] floats(String name) {
    Entry e = entry(name);
    ByteBuffer b = bytes(e);
    float[] out = new float[(int) e.elements()];
    switch (e.dtype()) {
      case F32 -> b.asFloatBuffer().get(out);
      case BF16 -> {
        for (int i = 0; i < out.length; i++) {
          out[i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xFFFF) << 16);
        }
      }
      case F16 -> {
        for (int i = 0; i < out.length; i++) {
          out[i] = halfToFloat(b.getShort(2 * i));
        }
      }
      default -> throw new IllegalArgumentException("tensor " + name + " in " + file + " is " + e.dtype()
          + ", not a floating-point tensor");
    }
    return out;
  }

  /** An integer tensor (I64 or I32) as longs. */
  public long[] longs(String name) {
    Entry e = entry(name);
    ByteBuffer b = bytes(e);
    long[] out = new long[(int) e.elements()];
    switch (e.dtype()) {
      case I64 -> b.asLongBuffer().get(out);
      case I32 -> {
        for (int i = 0; i < out.length; i++) {
          out[i] = b.getInt(4 * i);
        }
      }
      default -> throw new IllegalArgumentException("tensor " + name + " in " + file + " is " + e.dtype()
          + ", not an integer tensor");
    }
    return out;
  }

  static float halfToFloat(short h) {
    int bits = h & 0xFFFF;
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1F;
    int mantissa = bits & 0x3FF;
    if (exponent == 0) {
      return (sign != 0 ? -1 : 1) * mantissa * 0x1p-24f; // zero or subnormal
    }
    if (exponent == 31) {
      return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
    }
    return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
  }

  /** A tensor to write: float data stored as F32 or BF16, or integer data as I64/I32. */
  public record Tensor(String name, DType dtype, long[] shape, float[] floats, long[] longs) {
    public static Tensor f32(String name, float[] data, long... shape) {
      return new Tensor(name, DType.F32, shape, data, null);
    }

    public static Tensor i64(String name, long[] data, long... shape) {
      return new Tensor(name, DType.I64, shape, null, data);
    }
  }

  /**
   * Writes tensors sorted by name, atomically: to a temporary file in the same folder, flushed to disk, then
   * renamed over {@code file}.
   */
  public static void write(Path file, List<Tensor> tensors, Map<String, String> metadata) throws IOException {
    List<Tensor> sorted = new ArrayList<>(tensors);
    sorted.sort((a, b) -> a.name().compareTo(b.name()));
    ObjectNode header = new ObjectMapper().createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      metadata.forEach(meta::put);
    }
    long offset = 0;
    for (Tensor t : sorted) {
      long elements = Arrays.stream(t.shape()).reduce(1, Math::multiplyExact);
      long have = t.floats() != null ? t.floats().length : t.longs().length;
      if (elements != have) {
        throw new IllegalArgumentException("tensor " + t.name() + " has " + have + " values for shape "
            + Arrays.toString(t.shape()));
      }
      ObjectNode entry = header.putObject(t.name());
      entry.put("dtype", t.dtype().name());
      Arrays.stream(t.shape()).forEach(entry.putArray("shape")::add);
      entry.putArray("data_offsets").add(offset).add(offset + elements * t.dtype().bytes);
      offset += elements * t.dtype().bytes;
    }
    byte[] json = new ObjectMapper().writeValueAsBytes(header);
    int padded = (json.length + 7) / 8 * 8;
    Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
    try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
      head.putLong(padded).put(json);
      while (head.hasRemaining()) {
        head.put((byte) ' ');
      }
      head.flip();
      writeFully(out, head);
      for (Tensor t : sorted) {
        writeFully(out, encode(t));
      }
      out.force(true);
    }
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static ByteBuffer encode(Tensor t) {
    int n = t.floats() != null ? t.floats().length : t.longs().length;
    ByteBuffer b = ByteBuffer.allocate(n * t.dtype().bytes).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < n; i++) {
      switch (t.dtype()) {
        case F32 -> b.putFloat(t.floats()[i]);
        case BF16 -> b.putShort(floatToBf16(t.floats()[i]));
        case F16 -> b.putShort(floatToHalf(t.floats()[i]));
        case I64 -> b.putLong(t.longs()[i]);
        case I32 -> b.putInt(Math.toIntExact(t.longs()[i]));
        default -> throw new IllegalArgumentException("writing " + t.dtype() + " is not supported");
      }
    }
    b.flip();
    return b;
  }

  /** Round to nearest even, as PyTorch converts float32 to bfloat16. */
  static short floatToBf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) {
      return (short) ((bits >>> 16) | 0x40);
    }
    int rounding = 0x7FFF + ((bits >>> 16) & 1);
    return (short) ((bits + rounding) >>> 16);
  }

  /** float32 to IEEE half, round to nearest even; out of range becomes infinity, as PyTorch does. */
  static short floatToHalf(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int exponent = (bits >>> 23) & 0xFF;
    int mantissa = bits & 0x7FFFFF;
    if (exponent == 0xFF) {
      return (short) (sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0));
    }
    int e = exponent - 127 + 15;
    if (e >= 31) {
      return (short) (sign | 0x7C00);
    }
    if (e <= 0) {
      if (e < -10) {
        return (short) sign;
      }
      mantissa |= 0x800000;
      int shift = 14 - e;
      int half = mantissa >> shift;
      int rest = mantissa & ((1 << shift) - 1);
      int midpoint = 1 << (shift - 1);
      if (rest > midpoint || (rest == midpoint && (half & 1) == 1)) {
        half++;
      }
      return (short) (sign | half);
    }
    int half = (e << 10) | (mantissa >> 13);
    int rest = mantissa & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
      half++; // may carry into the exponent, which is still right (up to infinity)
    }
    return (short) (sign | half);
  }

  private static void writeFully(FileChannel out, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      out.write(b);
    }
  }
}
