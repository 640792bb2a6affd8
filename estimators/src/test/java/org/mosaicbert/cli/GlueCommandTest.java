package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.cli.EncodeCommandTest.Result;
import org.mosaicbert.testing.SharedTestData;

/** pretrain, then glue on real GLUE files: the table, glue.json and glue.md, the missing tasks named. */
class GlueCommandTest {
  @TempDir Path tmp;

  @Test
  void fineTunesEachTaskWithDataAndWritesTheTable() throws IOException {
    Path model = tmp.resolve("model");
    Result pretrained = EncodeCommandTest.run(new byte[0], "pretrain", "--output", model.toString(), "--max-steps",
        "2", "--batch", "8", "--micro-batch", "8");
    assertEquals(0, pretrained.code(), pretrained.err());
    Path out = tmp.resolve("glue");
    Result r = EncodeCommandTest.run(new byte[0], "glue", "--model", model.toString(), "--data",
        SharedTestData.path("data/glue").toString(), "--output", out.toString(), "--tasks", "SST-2,STS-B,MNLI",
        "--train-rows", "32", "--max-steps", "2", "--max-seq-len", "32", "--seeds", "19", "--precision", "int8");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("| SST-2 | accuracy |"), r.out());
    assertTrue(r.out().contains("| STS-B | spearman |"), r.out());
    assertTrue(r.out().contains("Tasks without train and dev data here: MNLI"), r.out());
    assertTrue(r.out().contains("not comparable with the published 84.3"), r.out());
    JsonNode json = new ObjectMapper().readTree(out.resolve("glue.json").toFile());
    assertEquals(2, json.path("per_task").size());
    assertEquals("int8", json.path("precision").asText(), "dev scored at int8, and glue.json says so");
    assertTrue(Files.exists(out.resolve("glue.md")));
    assertTrue(Files.exists(out.resolve("SST-2-seed19").resolve("model.safetensors")));
  }
}
