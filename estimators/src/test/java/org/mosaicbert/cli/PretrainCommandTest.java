package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.cli.EncodeCommandTest.Result;
import org.mosaicbert.ml.HadoopCheckpointStore;

/** The main job on a fresh machine: no data given, so the embedded corpus is tokenized, then a model trained. */
class PretrainCommandTest {
  @TempDir Path tmp;

  @Test
  void pretrainsOnTheEmbeddedCorpusAndWritesAModelFolder() throws IOException {
    Path recipe = tmp.resolve("quick.yaml");
    Files.writeString(recipe, "model:\n  preset: tiny\nmax_duration: 4ba\nglobal_train_batch_size: 8\n"
        + "device_train_microbatch_size: 4\ndevice_train_microbatch_tokens: 128\nmetrics_every: 1\nmax_seq_len: 64\n");
    Path output = tmp.resolve("model");
    Result r = EncodeCommandTest.run(new byte[0], "pretrain", "--output", output.toString(), "--recipe",
        recipe.toString(), "--workers", "2");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("4 steps of 8 sequences, 2 worker(s)"), r.out());
    for (String f : new String[] {"config.json", "model.safetensors", "vocab.txt", "training_args.json", "metadata"}) {
      assertTrue(Files.exists(output.resolve(f)), f);
    }
    assertTrue(Files.exists(tmp.resolve("model.checkpoints").resolve("loss.png")));
    assertEquals(4, HadoopCheckpointStore.readMetrics(tmp.resolve("model.checkpoints").toString(),
        new org.apache.hadoop.conf.Configuration()).size());
    assertTrue(Files.exists(tmp.resolve("model.shards").resolve("manifest.json")));
    for (String lock : new String[] {".model.lock", ".model.checkpoints.lock", ".model.shards.lock"}) {
      assertTrue(Files.notExists(tmp.resolve(lock)), lock + ": a run releases what it held");
    }

    // Two more steps, resumed from the checkpoint of step 4: the summary quotes this run's losses, and the metrics
    // log holds each step once.
    Result more = EncodeCommandTest.run(new byte[0], "pretrain", "--output", output.toString(), "--recipe",
        recipe.toString(), "--workers", "2", "--max-steps", "6", "--allow-changed-settings", "--overwrite");
    assertEquals(0, more.code(), more.err());
    assertTrue(more.out().matches("(?s).*loss: [0-9.]+ at step 5 -> [0-9.]+ at step 6, [0-9]+ tokens/s, resumed "
        + "from the checkpoint of step 4 \\(metrics.*"), more.out());
    assertEquals(java.util.List.of(1L, 2L, 3L, 4L, 5L, 6L), HadoopCheckpointStore.readMetrics(
        tmp.resolve("model.checkpoints").toString(), new org.apache.hadoop.conf.Configuration()).stream()
        .map(org.mosaicbert.train.StepMetrics::step).toList());

    // export tells Hugging Face the length the model was trained at.
    Result export = EncodeCommandTest.run(new byte[0], "export", "--model", output.toString(), "--out",
        tmp.resolve("hf").toString());
    assertEquals(0, export.code(), export.err());
    assertTrue(export.out().contains("model_max_length 64"), export.out());
    assertEquals(64, new com.fasterxml.jackson.databind.ObjectMapper().readTree(tmp.resolve("hf")
        .resolve("tokenizer_config.json").toFile()).path("model_max_length").asInt());

    // A recipe's max_seq_len is the length trained at: shards cut at another are refused before training.
    Files.writeString(recipe, "model:\n  preset: tiny\nmax_duration: 1ba\nmax_seq_len: 2048\n");
    Result longer = EncodeCommandTest.run(new byte[0], "pretrain", "--data", tmp.resolve("model.shards").toString(),
        "--output", tmp.resolve("long").toString(), "--recipe", recipe.toString());
    assertEquals(1, longer.code());
    assertTrue(longer.err().contains("max_seq_len = 2048 (--max-seq-len or the recipe), but the shards in "
        + tmp.resolve("model.shards") + " were tokenized at max_seq_len 64; tokenize them again with `mosaicbert "
        + "tokenize --max-seq-len 2048`"), longer.err());
  }

  @Test
  void aTokenBoundBelowTheLongestSampleIsNamedBeforeTraining() throws IOException {
    Path recipe = tmp.resolve("bounded.yaml");
    Files.writeString(recipe, "model:\n  preset: tiny\nmax_duration: 1ba\nglobal_train_batch_size: 4\n");
    Path output = tmp.resolve("bounded");
    Result r = EncodeCommandTest.run(new byte[0], "pretrain", "--output", output.toString(), "--recipe",
        recipe.toString(), "--micro-batch-tokens", "100");
    assertEquals(1, r.code(), r.err());
    assertTrue(r.err().contains("--micro-batch-tokens 100 is less than the longest sample (128 tokens)"), r.err());
    assertTrue(Files.notExists(output), "nothing written");
  }

  @Test
  void anUnknownRecipeKeyIsNamed() throws IOException {
    Path recipe = tmp.resolve("bad.yaml");
    Files.writeString(recipe, "optimizer:\n  learning_rate: 1e-3\n");
    Result r = EncodeCommandTest.run(new byte[0], "pretrain", "--output", tmp.resolve("m").toString(), "--recipe",
        recipe.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("key 'optimizer.learning_rate' is not read by this command"), r.err());
  }

  @Test
  void theDeviceFlagIsCheckedAndAGpuRunWithoutCudaSaysWhy() throws IOException {
    Path recipe = tmp.resolve("quick.yaml");
    Files.writeString(recipe, "model:\n  preset: tiny\nmax_duration: 2ba\nglobal_train_batch_size: 4\n");
    Result bad = EncodeCommandTest.run(new byte[0], "pretrain", "--output", tmp.resolve("a").toString(), "--recipe",
        recipe.toString(), "--device", "tpu");
    assertEquals(2, bad.code());
    assertTrue(bad.err().contains("--device = 'tpu' must be one of [auto, cpu, gpu]"), bad.err());
    Result noTimeout = EncodeCommandTest.run(new byte[0], "pretrain", "--output", tmp.resolve("a").toString(),
        "--recipe", recipe.toString(), "--ring-timeout", "0");
    assertEquals(2, noTimeout.code());
    assertTrue(noTimeout.err().contains("--ring-timeout = 0 must be at least 1"), noTimeout.err());
    org.junit.jupiter.api.Assumptions.assumeFalse(org.mosaicbert.backend.cuda.CudaProbe.available(),
        "this machine has a GPU: the no-CUDA message cannot be checked here");
    Result gpu = EncodeCommandTest.run(new byte[0], "pretrain", "--output", tmp.resolve("b").toString(), "--recipe",
        recipe.toString(), "--device", "gpu");
    assertTrue(gpu.code() != 0 && gpu.err().contains("device=gpu, but there is no usable CUDA device"), gpu.err());
    assertTrue(Files.notExists(tmp.resolve("b")), "nothing written for a run that did not train");
  }

  /** Outputs are checked before any work: no tokenizing, no training, for a run that cannot write its model. */
  @Test
  void anOutputThatCannotBeWrittenFailsBeforeAnyWork() throws IOException {
    Path existing = Files.createDirectories(tmp.resolve("existing"));
    Result exists = EncodeCommandTest.run(new byte[0], "pretrain", "--output", existing.toString());
    assertTrue(exists.code() == 1 && exists.err().contains("exists; give --overwrite"), exists.err());
    assertTrue(Files.notExists(tmp.resolve("existing.shards")), "the default corpus was tokenized first");
    Path data = Files.createDirectories(tmp.resolve("shards"));
    Result same = EncodeCommandTest.run(new byte[0], "pretrain", "--data", data.toString(), "--output",
        data.toString(), "--overwrite");
    assertTrue(same.code() == 1 && same.err().contains("is the input"), same.err());
  }

  /** A Java ForkJoinPool takes at most 32,767 threads: more is a sentence naming the bound, not a stack trace. */
  @Test
  void moreThreadsThanAWorkerCanRunAreRefusedNamingTheBound() {
    Result pretrain = EncodeCommandTest.run(new byte[0], "pretrain", "--output", tmp.resolve("t").toString(),
        "--threads", "40000");
    assertEquals(2, pretrain.code(), pretrain.err());
    assertTrue(pretrain.err().contains("--threads = 40000 must be in [1, 32767]"), pretrain.err());
    Result predict = EncodeCommandTest.run(new byte[0], "predict", "--model", tmp.toString(), "--input", "x.txt",
        "--output", tmp.resolve("p").toString(), "--threads", "40000");
    assertEquals(2, predict.code(), predict.err());
    assertTrue(predict.err().contains("--threads = 40000 must be in [1, 32767]"), predict.err());
    String engine = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> new org.mosaicbert.backend.cpu.CpuBackend(40_000)).getMessage();
    assertTrue(engine.contains("threadsPerWorker must be in [1, 32767], got 40000"), engine);
  }
}
