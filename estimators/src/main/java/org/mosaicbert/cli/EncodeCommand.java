package org.mosaicbert.cli;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Set;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.TokenizerLoader;

/**
 * {@code encode}: token ids of each line of standard input. A line is a text ended by {@code \n}; a final line
 * without one is one more text; {@code \r} is part of the text; invalid UTF-8 becomes U+FFFD.
 */
final class EncodeCommand implements Subcommand {
  @Override
  public String name() {
    return "encode";
  }

  @Override
  public String summary() {
    return "token ids of each line of standard input (BERT WordPiece)";
  }

  @Override
  public String help() {
    return """
        usage: mosaicbert encode --vocab FILE [--cased] [--no-special-tokens] [--max-length N] < texts.txt

        Reads UTF-8 text from standard input, one text per line, and prints one line of space-separated token ids
        per text: [CLS] ... [SEP] unless --no-special-tokens. An empty line gives [CLS] [SEP].

          --vocab FILE          a BERT vocab.txt, or a Hugging Face tokenizer.json (its normalizer flags apply)
          --cased               keep case and accents (vocab.txt only; default: lowercase and strip accents)
          --no-special-tokens   print the WordPiece ids alone, without [CLS] and [SEP]
          --max-length N        truncate to N ids in all, [CLS] and [SEP] included (default: no truncation)
        """;
  }

  @Override
  public int run(String[] argv, InputStream in, PrintStream out) throws IOException {
    Args args = Args.parse(name(), argv, Set.of("vocab", "max-length"), Set.of("cased", "no-special-tokens"));
    boolean special = !args.has("no-special-tokens");
    int maxLength = args.intValue("max-length", Integer.MAX_VALUE, special ? 2 : 1);
    BertWordPieceTokenizer tokenizer = TokenizerLoader.load(args.path("vocab"), args.has("cased"));

    CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPLACE)
        .onUnmappableCharacter(CodingErrorAction.REPLACE);
    OutputStream sink = new BufferedOutputStream(out, 1 << 16);
    StringBuilder line = new StringBuilder(4096);
    LineReader reader = new LineReader(new BufferedInputStream(in, 1 << 16));
    for (byte[] bytes = reader.next(); bytes != null; bytes = reader.next()) {
      String text = decode(decoder, bytes, reader.length());
      int[] ids = special ? tokenizer.encode(text, maxLength) : tokenizer.tokenize(text, maxLength);
      line.setLength(0);
      for (int i = 0; i < ids.length; i++) {
        if (i > 0) {
          line.append(' ');
        }
        line.append(ids[i]);
      }
      line.append('\n');
      sink.write(line.toString().getBytes(StandardCharsets.US_ASCII));
    }
    sink.flush();
    return 0;
  }

  private static String decode(CharsetDecoder decoder, byte[] bytes, int length) {
    try {
      CharBuffer chars = decoder.reset().decode(ByteBuffer.wrap(bytes, 0, length));
      return chars.toString();
    } catch (CharacterCodingException e) {
      throw new IllegalStateException("a replacing decoder does not throw", e);
    }
  }

  /** Splits a byte stream on {@code \n}, keeping {@code \r}; the buffer is reused between lines. */
  private static final class LineReader {
    private final InputStream in;
    private byte[] buffer = new byte[8192];
    private int length;

    LineReader(InputStream in) {
      this.in = in;
    }

    /** The next line's bytes (valid up to {@link #length()}), or null at the end of the input. */
    byte[] next() throws IOException {
      length = 0;
      int b;
      while ((b = in.read()) >= 0) {
        if (b == '\n') {
          return buffer;
        }
        if (length == buffer.length) {
          buffer = Arrays.copyOf(buffer, buffer.length * 2);
        }
        buffer[length++] = (byte) b;
      }
      return length > 0 ? buffer : null;
    }

    int length() {
      return length;
    }
  }
}
