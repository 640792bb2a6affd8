package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.mosaicbert.testing.SharedTestData;
import org.mosaicbert.tokenizer.BertWordPieceTokenizer;
import org.mosaicbert.tokenizer.TokenizerLoader;

class EncodeCommandTest {
  record Result(int code, String out, String err) {}

  static Result run(byte[] stdin, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = Main.run(args, new ByteArrayInputStream(stdin), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  private static String ids(int[] ids) {
    return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(" "));
  }

  @Test
  void printsOneLineOfIdsPerInputLineWithClsAndSep() {
    String vocab = SharedTestData.vocabTxt().toString();
    BertWordPieceTokenizer tokenizer = TokenizerLoader.load(SharedTestData.vocabTxt(), false);
    Result r = run("Hello, World!\n\nCafé costs $5\r\nlast line without newline".getBytes(StandardCharsets.UTF_8),
        "encode", "--vocab", vocab);
    assertEquals(0, r.code(), r.err());
    String[] lines = r.out().split("\n", -1);
    assertEquals(5, lines.length, r.out()); // four texts, then the empty string after the final \n
    assertEquals("101 7592 1010 2088 999 102", lines[0]);
    assertEquals("101 102", lines[1], "an empty line gives [CLS] [SEP]");
    assertEquals(ids(tokenizer.encode("Café costs $5\r")), lines[2], "\\r is part of the text");
    assertEquals(ids(tokenizer.encode("last line without newline")), lines[3]);
    assertEquals("", lines[4]);
  }

  @Test
  void invalidUtf8BecomesReplacementCharacterAndIsDropped() {
    byte[] input = {'a', 'b', (byte) 0xFF, (byte) 0xC3, 'c', 'd', '\n'};
    Result r = run(input, "encode", "--vocab", SharedTestData.vocabTxt().toString(), "--no-special-tokens");
    assertEquals(0, r.code(), r.err());
    BertWordPieceTokenizer tokenizer = TokenizerLoader.load(SharedTestData.vocabTxt(), false);
    assertEquals(ids(tokenizer.tokenize("ab\uFFFD\uFFFDcd")) + "\n", r.out());
    assertEquals(ids(tokenizer.tokenize("abcd")) + "\n", r.out(), "U+FFFD is cleaned away like in Hugging Face");
  }

  @Test
  void maxLengthCountsTheSpecialTokens() {
    Result r = run("one two three four five six\n".getBytes(StandardCharsets.UTF_8), "encode", "--vocab",
        SharedTestData.vocabTxt().toString(), "--max-length", "4");
    assertEquals(0, r.code(), r.err());
    assertEquals("101 2028 2048 102\n", r.out());
  }

  @Test
  void casedKeepsCaseAndAccents() {
    Result uncased = run("Éclair\n".getBytes(StandardCharsets.UTF_8), "encode", "--vocab",
        SharedTestData.vocabTxt().toString(), "--no-special-tokens");
    Result cased = run("Éclair\n".getBytes(StandardCharsets.UTF_8), "encode", "--vocab",
        SharedTestData.vocabTxt().toString(), "--no-special-tokens", "--cased");
    BertWordPieceTokenizer tokenizer = TokenizerLoader.load(SharedTestData.vocabTxt(), false);
    assertEquals(ids(tokenizer.tokenize("eclair")) + "\n", uncased.out(), "uncased: 'eclair'");
    assertTrue(cased.out().startsWith("100"), "the uncased vocabulary has no 'Éclair': " + cased.out());
  }

  @Test
  void badCommandLinesNameTheFlag() {
    Result missing = run(new byte[0], "encode");
    assertEquals(2, missing.code());
    assertTrue(missing.err().contains("--vocab is required"), missing.err());
    Result unknown = run(new byte[0], "encode", "--vocab", "x.txt", "--lowercase");
    assertEquals(2, unknown.code());
    assertTrue(unknown.err().contains("unknown flag --lowercase"), unknown.err());
    Result badNumber = run(new byte[0], "encode", "--vocab", "x.txt", "--max-length", "ten");
    assertEquals(2, badNumber.code());
    assertTrue(badNumber.err().contains("--max-length must be a whole number"), badNumber.err());
    Result noFile = run(new byte[0], "encode", "--vocab", "/nonexistent/vocab.txt");
    assertEquals(1, noFile.code());
    assertTrue(noFile.err().contains("/nonexistent/vocab.txt does not exist"), noFile.err());
    Result tooShort = run(new byte[0], "encode", "--vocab", SharedTestData.vocabTxt().toString(), "--max-length", "1");
    assertEquals(2, tooShort.code());
    assertTrue(tooShort.err().contains("--max-length must be at least 2"), tooShort.err());
  }

  @Test
  void helpListsTheSubcommandsOnStandardOutput() {
    Result help = run(new byte[0], "--help");
    assertEquals(0, help.code());
    assertTrue(help.out().contains("encode"), help.out());
    Result encodeHelp = run(new byte[0], "encode", "--help");
    assertEquals(0, encodeHelp.code());
    assertTrue(encodeHelp.out().contains("--max-length N"), encodeHelp.out());
    List<String> expected = List.of("train-vocab", "tokenize", "pretrain", "finetune", "glue", "predict", "export",
        "import", "bench", "check-vectors", "encode");
    assertEquals(expected, Main.SUBCOMMANDS.stream().map(Subcommand::name).toList(),
        "the subcommands, in their order in the usage");
    for (String command : expected) {
      Result h = run(new byte[0], command, "--help");
      assertEquals(0, h.code(), command);
      assertTrue(h.out().startsWith("usage: mosaicbert " + command), command + ": " + h.out());
      assertTrue(help.out().contains(command), "the overview lists " + command);
    }
    Result unknown = run(new byte[0], "frobnicate");
    assertEquals(2, unknown.code());
    assertTrue(unknown.err().contains("unknown subcommand 'frobnicate'"), unknown.err());
  }
}
