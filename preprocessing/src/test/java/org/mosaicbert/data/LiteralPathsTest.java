package org.mosaicbert.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A path the user gives names one file or folder: a ':' in it is a character unless it ends a URI scheme, and the
 * string handed to Spark's globbing readers matches that file alone. Listing a corpus refuses, in one sentence, a file
 * the local file system cannot open (a ':' in its name).
 */
class LiteralPathsTest {
  @TempDir Path tmp;
  private final Configuration conf = new Configuration();

  @Test
  void aColonIsPartOfANameUnlessItEndsAScheme() {
    org.apache.hadoop.fs.Path relative = LiteralPaths.of("a:b/c:d.txt");
    assertNull(relative.toUri().getScheme());
    assertEquals("c:d.txt", relative.getName());
    assertEquals("a:b", relative.getParent().getName());
    assertEquals("hdfs", LiteralPaths.of("hdfs://namenode:8020/data/x.txt").toUri().getScheme());
    assertEquals("namenode:8020", LiteralPaths.of("hdfs://namenode:8020/data/x.txt").toUri().getAuthority());
    assertEquals("file", LiteralPaths.of("file:/tmp/x").toUri().getScheme());
    assertEquals("/tmp/a b#c%20d", LiteralPaths.of("/tmp/a b#c%20d").toUri().getPath(), "no URI decoding");
  }

  @Test
  void globCharactersAreEscapedForSparkAndAPlainPathIsOnlyQualified() throws IOException {
    assertEquals("file:" + tmp + "/data\\[1\\].txt", LiteralPaths.forSpark(tmp + "/data[1].txt", conf));
    assertEquals("file:" + tmp + "/q\\?\\{a,b\\}\\*\\\\.txt", LiteralPaths.forSpark(tmp + "/q?{a,b}*\\.txt", conf));
    assertEquals("file:" + tmp + "/c:d/e:f.txt", LiteralPaths.forSpark(tmp + "/c:d/e:f.txt", conf));
    String message = assertThrows(IllegalArgumentException.class,
        () -> LiteralPaths.forSpark(tmp + "/c:d/[1].txt", conf)).getMessage();
    assertTrue(message.contains("holds both ':' and one of"), message);
  }

  /** What Hadoop's glob makes of the escaped string: the file itself, not its look-alikes. */
  @Test
  void theEscapedPathGlobsToTheFileAlone() throws IOException {
    for (String name : List.of("data1.txt", "data[1].txt", "q1.txt", "q?.txt", "a:b.txt")) {
      Files.writeString(tmp.resolve(name), name);
    }
    org.apache.hadoop.fs.FileSystem fs = org.apache.hadoop.fs.FileSystem.getLocal(conf);
    for (String name : List.of("data[1].txt", "q?.txt")) {
      org.apache.hadoop.fs.FileStatus[] found = fs.globStatus(new org.apache.hadoop.fs.Path(
          LiteralPaths.forSpark(tmp.resolve(name).toString(), conf)));
      assertEquals(1, found.length, name);
      assertEquals(name, found[0].getPath().getName());
    }
  }

  @Test
  void aCorpusFileWithAColonInItsNameIsRefusedNamingIt() throws IOException {
    Path corpus = Files.createDirectories(tmp.resolve("corpus"));
    Files.writeString(corpus.resolve("plain.txt"), "a document\n");
    Files.writeString(corpus.resolve("notes:1.txt"), "another\n");
    String message = assertThrows(IllegalArgumentException.class,
        () -> CorpusListing.list(corpus.toString(), null, conf)).getMessage();
    assertTrue(message.startsWith("input file file:" + corpus.resolve("notes:1.txt") + ": Hadoop's local file "
        + "system cannot read a file whose name holds ':'"), message);
    Files.delete(corpus.resolve("notes:1.txt"));
    assertEquals(1, CorpusListing.list(corpus.toString(), null, conf).size());
  }
}
