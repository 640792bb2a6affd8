package org.mosaicbert.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The shared test data ({@code ../shared} beside the checkout), found through the {@code mosaicbert.shared.dir}
 * property that the parent POM sets. Tests that need it skip, saying why, when it is absent (a user's fresh clone).
 */
public final class SharedTestData {
  private SharedTestData() {}

  /** A file or folder under the shared folder; skips the calling test when it is not there. */
  public static Path path(String relative) {
    String dir = System.getProperty("mosaicbert.shared.dir");
    assumeTrue(dir != null, "mosaicbert.shared.dir is not set: run the tests through Maven (mvn test), whose parent "
        + "POM points it at ../shared");
    Path path = Path.of(dir).resolve(relative).normalize();
    assumeTrue(Files.exists(path), "shared test data " + path + " is absent (it lies in ../shared beside the checkout, "
        + "which a fresh clone does not have); skipping");
    return path;
  }

  public static Path vocabTxt() {
    return path("data/vocab/bert-base-uncased-vocab.txt");
  }

  public static Path tokenizerJson() {
    return path("data/vocab/bert-base-uncased-tokenizer.json");
  }
}
