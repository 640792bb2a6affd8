package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model folder whose vocab.txt does not fit the model (longer than vocab_size, a token twice, an empty line, bytes
 * that are not UTF-8) is refused when the folder is read, naming the file and the line: every command that loads a
 * model (predict, export, import, finetune) reads it through here.
 */
class ModelVocabularyTest {
  @TempDir Path tmp;
  private Path folder;
  private List<String> tokens;

  @BeforeEach
  void copyFixture() throws Exception {
    Path fixture = Path.of(getClass().getResource("/legacy-models/mlm-model").toURI());
    folder = Files.createDirectories(tmp.resolve("model"));
    for (String name : List.of(ModelFolder.CONFIG, ModelFolder.WEIGHTS, ModelFolder.VOCAB)) {
      Files.copy(fixture.resolve(name), folder.resolve(name));
    }
    tokens = Files.readAllLines(folder.resolve(ModelFolder.VOCAB));
    assertEquals(128, tokens.size(), "the fixture's vocab.txt has as many lines as its vocab_size");
  }

  private String refused(List<String> lines) throws IOException {
    Files.write(folder.resolve(ModelFolder.VOCAB), lines, StandardCharsets.UTF_8);
    return assertThrows(IllegalArgumentException.class, () -> ModelFolder.read(folder.toString(),
        new Configuration())).getMessage();
  }

  private String vocabFile() {
    return folder.resolve(ModelFolder.VOCAB).toString();
  }

  @Test
  void theFixtureLoads() {
    assertEquals(tokens, ModelFolder.read(folder.toString(), new Configuration()).vocab());
  }

  @Test
  void aVocabularyLongerThanTheEmbeddingTableIsRefused() throws IOException {
    List<String> longer = new ArrayList<>(tokens);
    longer.add("extra");
    longer.add("more");
    assertEquals(vocabFile() + " has 130 lines, more than the model's vocab_size of 128 (config.json): line 129 on "
        + "would give ids past the embedding table; use the vocab.txt the model was trained with", refused(longer));
  }

  @Test
  void aTokenListedTwiceIsRefusedNamingBothLines() throws IOException {
    List<String> twice = new ArrayList<>(tokens);
    twice.set(99, tokens.get(49));
    assertEquals(vocabFile() + " line 100: the token '" + tokens.get(49) + "' is also on line 50, so one of its ids "
        + "could never be given; use the vocab.txt the model was trained with", refused(twice));
  }

  @Test
  void anEmptyLineIsRefused() throws IOException {
    List<String> gap = new ArrayList<>(tokens);
    gap.set(69, "");
    assertTrue(refused(gap).startsWith(vocabFile() + " line 70 is empty"));
    List<String> blankAtEnd = new ArrayList<>(tokens.subList(0, 100));
    blankAtEnd.add("");
    assertTrue(refused(blankAtEnd).startsWith(vocabFile() + " line 101 is empty"));
  }

  @Test
  void invalidUtf8IsRefusedNamingTheLine() throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    for (int i = 0; i < tokens.size(); i++) {
      bytes.writeBytes((i == 40 ? tokens.get(i) + "\u00e9" : tokens.get(i)).getBytes(StandardCharsets.UTF_8));
      if (i == 40) {
        bytes.write(0xC3); // the first byte of a two-byte character, cut off
      }
      bytes.write('\n');
    }
    Files.write(folder.resolve(ModelFolder.VOCAB), bytes.toByteArray());
    assertEquals(vocabFile() + " line 41: invalid UTF-8; a vocab.txt is UTF-8 text with one token per line",
        assertThrows(IllegalArgumentException.class, () -> ModelFolder.read(folder.toString(), new Configuration()))
            .getMessage());
  }

  @Test
  void aFolderBuiltWithATooLongVocabularyIsRefused() {
    ModelFolder read = ModelFolder.read(folder.toString(), new Configuration());
    List<String> longer = new ArrayList<>(read.vocab());
    longer.add("extra");
    assertEquals("a vocabulary of 129 tokens does not fit a model of vocab_size 128: its last ids would be past the "
        + "embedding table; give the model its own vocabulary", assertThrows(IllegalArgumentException.class,
            () -> new ModelFolder(read.config(), read.heads(), read.parameters(), longer, read.normalizer()))
            .getMessage());
  }
}
