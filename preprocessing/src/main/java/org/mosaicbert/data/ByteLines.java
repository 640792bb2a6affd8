package org.mosaicbert.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Lines of a byte stream, split on {@code \n} only ({@code \r} stays in the line), decoded as UTF-8 either strictly
 * (invalid bytes are an error) or with U+FFFD for invalid bytes. The buffer is reused; not thread-safe.
 */
public final class ByteLines {
  private final InputStream in;
  private final CharsetDecoder decoder;
  private byte[] buffer = new byte[8192];
  private int length;
  private int start;
  private int end;
  private byte[] chunk = new byte[1 << 16];

  /** @param strict true: invalid UTF-8 throws {@link CharacterCodingException}; false: it becomes U+FFFD */
  public ByteLines(InputStream in, boolean strict) {
    this.in = in;
    CodingErrorAction action = strict ? CodingErrorAction.REPORT : CodingErrorAction.REPLACE;
    this.decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(action).onUnmappableCharacter(action);
  }

  /**
   * Reads the next line: true if there is one. A final line without {@code \n} counts; an empty input has none,
   * and a {@code \n} at the very end starts no further line.
   */
  public boolean next() throws IOException {
    length = 0;
    while (true) {
      if (start == end) {
        end = in.read(chunk, 0, chunk.length);
        start = 0;
        if (end <= 0) {
          end = 0;
          return length > 0;
        }
      }
      for (int i = start; i < end; i++) {
        if (chunk[i] == '\n') {
          append(chunk, start, i - start);
          start = i + 1;
          return true;
        }
      }
      append(chunk, start, end - start);
      start = end;
    }
  }

  private void append(byte[] src, int from, int n) {
    if (length + n > buffer.length) {
      buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, length + n));
    }
    System.arraycopy(src, from, buffer, length, n);
    length += n;
  }

  /** The current line, decoded. */
  public String text() throws CharacterCodingException {
    return decoder.reset().decode(ByteBuffer.wrap(buffer, 0, length)).toString();
  }

  public boolean isBlank() {
    for (int i = 0; i < length; i++) {
      byte b = buffer[i];
      if (b != ' ' && b != '\t' && b != '\r') {
        return false;
      }
    }
    return true;
  }
}
