package org.mosaicbert.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * A WordPiece vocabulary: token strings and ids both ways, id = position. Immutable.
 *
 * <p>The model's embedding matrix has {@link #paddedSize()} rows, the size rounded up to a multiple of 64
 * (MosaicBERT's throughput trick: 30,522 becomes 30,528); the extra rows are never produced by the tokenizer.
 */
public final class Vocabulary {
  private final String[] tokens;
  private final Map<String, Integer> ids;

  /** @param tokens the token of each id; a token listed twice keeps its last id, as Hugging Face does */
  public Vocabulary(List<String> tokens) {
    if (tokens.isEmpty()) {
      throw new IllegalArgumentException("a vocabulary needs at least one token");
    }
    this.tokens = tokens.toArray(new String[0]);
    this.ids = new HashMap<>(tokens.size() * 2);
    for (int id = 0; id < this.tokens.length; id++) {
      ids.put(this.tokens[id], id);
    }
  }

  /**
   * Reads a BERT {@code vocab.txt}: UTF-8, one token per line, the id of a token is its line number from 0.
   * Trailing whitespace of a line is not part of the token (as in Hugging Face's reader).
   */
  public static Vocabulary readVocabTxt(Path file) {
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file)))
          .toString();
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("vocabulary file " + file + " does not exist: pass the path of a BERT "
          + "vocab.txt (one token per line) or a tokenizer.json", e);
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException("vocabulary file " + file + " is not valid UTF-8: a vocab.txt is UTF-8 text "
          + "with one token per line", e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read vocabulary file " + file, e);
    }
    if (text.startsWith("\uFEFF")) {
      text = text.substring(1);
    }
    List<String> lines = new java.util.ArrayList<>(32_768);
    int start = 0;
    while (start < text.length()) {
      int end = text.indexOf('\n', start);
      if (end < 0) {
        end = text.length();
      }
      lines.add(stripTrailingWhitespace(text.substring(start, end)));
      start = end + 1;
    }
    if (lines.isEmpty()) {
      throw new IllegalArgumentException("vocabulary file " + file + " is empty");
    }
    return new Vocabulary(lines);
  }

  private static String stripTrailingWhitespace(String line) {
    int end = line.length();
    while (end > 0) {
      int cp = line.codePointBefore(end);
      if (!BertCharClasses.isWhitespace(cp)) {
        break;
      }
      end -= Character.charCount(cp);
    }
    return line.substring(0, end);
  }

  public int size() {
    return tokens.length;
  }

  /** The number of embedding rows: the size rounded up to a multiple of 64. */
  public int paddedSize() {
    return (tokens.length + 63) / 64 * 64;
  }

  public String token(int id) {
    if (id < 0 || id >= tokens.length) {
      throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + tokens.length + ")");
    }
    return tokens[id];
  }

  /** The id of a token, or -1 when it is not in the vocabulary. */
  public int id(String token) {
    Integer id = ids.get(token);
    return id == null ? -1 : id;
  }

  /** SHA-256 of the tokens in id order, one per line with {@code \n}: the same for equal vocabularies. */
  public String sha256() {
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      for (String token : tokens) {
        digest.update(token.getBytes(StandardCharsets.UTF_8));
        digest.update((byte) '\n');
      }
      return HexFormat.of().formatHex(digest.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
    }
  }

  String[] tokens() {
    return tokens;
  }
}
