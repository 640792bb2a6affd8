package org.mosaicbert.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.cli.EncodeCommandTest.Result;
import org.mosaicbert.ml.HadoopCheckpointStore;
import org.mosaicbert.train.LocalCheckpointStore;

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

    reruns(recipe, output);

    // export tells Hugging Face the length the model was trained at.
    Result export = EncodeCommandTest.run(new byte[0], "export", "--model", output.toString(), "--output",
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

  /**
   * What running pretrain again does once its run is complete: the same command is refused, --continue trains it
   * further, --overwrite starts over and gives the first run's weights again, bit for bit.
   */
  private void reruns(Path recipe, Path output) throws IOException {
    Path checkpoints = tmp.resolve("model.checkpoints");
    byte[] firstRun = Files.readAllBytes(output.resolve("model.safetensors"));
    long shardsWritten = Files.getLastModifiedTime(tmp.resolve("model.shards").resolve("manifest.json")).toMillis();
    String[] same = {"pretrain", "--output", output.toString(), "--recipe", recipe.toString(), "--workers", "2"};

    Result again = pretrain(same);
    assertEquals(1, again.code(), again.err());
    assertTrue(again.err().contains("--output " + output + " exists: the run that wrote it is complete (its newest "
        + "checkpoint is step 4, in " + checkpoints + "), and running the same command again would train nothing. "
        + "Give --overwrite to start over from step 0 (deletes " + output + " and " + checkpoints + "; the shards "
        + "stay), or --continue with a larger --max-steps to train it further from step 4"), again.err());
    Result both = pretrain(same, "--overwrite", "--continue");
    assertEquals(2, both.code(), both.err());
    assertTrue(both.err().contains("give --overwrite (start over) or --continue (train further), not both"));

    // Two more steps, from the checkpoint of step 4: the run's length is the change --continue makes, recorded beside
    // the checkpoints; the summary quotes this run's losses, and the metrics log holds each step once.
    Result more = pretrain(same, "--max-steps", "6", "--continue");
    assertEquals(0, more.code(), more.err());
    assertTrue(more.out().matches("(?s).*loss: [0-9.]+ at step 5 -> [0-9.]+ at step 6, [0-9]+ tokens/s, resumed "
        + "from the checkpoint of step 4 \\(metrics.*"), more.out());
    assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), steps(checkpoints));
    assertTrue(Files.exists(checkpoints.resolve("settings-changed-at-" + LocalCheckpointStore.stepFolder(4)
        + ".json")));
    assertFalse(Arrays.equals(firstRun, Files.readAllBytes(output.resolve("model.safetensors"))), "the model of "
        + "step 6 replaced that of step 4");

    Result nothing = pretrain(same, "--max-steps", "6", "--continue");
    assertEquals(0, nothing.code(), nothing.err());
    assertTrue(nothing.out().contains(output + " is complete at step 6 of 6: nothing to train"), nothing.out());
    Result fewer = pretrain(same, "--max-steps", "5", "--continue");
    assertEquals(1, fewer.code(), fewer.err());
    assertTrue(fewer.err().contains("the run in " + checkpoints + " has trained 6 steps, more than the 5 asked now"),
        fewer.err());
    Result changed = pretrain(same, "--max-steps", "8", "--continue", "--lr", "1e-3");
    assertEquals(1, changed.code(), changed.err());
    assertTrue(changed.err().contains("--continue changes the run's length only, but the run in " + checkpoints
        + " was trained with other settings:\n  lr: 0.002 in the checkpoint, 0.001 now"), changed.err());

    // Refused before anything is deleted: the default corpus's shards are cut at 64, and --overwrite keeps them.
    Result longer = pretrain(same, "--overwrite", "--max-seq-len", "128");
    assertEquals(1, longer.code(), longer.err());
    assertTrue(longer.err().contains("delete " + tmp.resolve("model.shards") + " to tokenize the default corpus "
        + "again at 128 (--overwrite keeps it)"), longer.err());
    assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), steps(checkpoints));

    // Starting over: the old model and checkpoints go, the run trains from step 0 to the first run's weights.
    Result over = pretrain(same, "--overwrite");
    assertEquals(0, over.code(), over.err());
    assertFalse(over.out().contains("resumed") || over.err().contains("resuming from"), over.out() + over.err());
    assertEquals(List.of(1L, 2L, 3L, 4L), steps(checkpoints));
    try (Stream<Path> entries = Files.list(checkpoints)) {
      assertEquals(List.of(), entries.map(p -> p.getFileName().toString())
          .filter(n -> n.startsWith("settings-changed") || n.compareTo(LocalCheckpointStore.stepFolder(4)) > 0
              && n.startsWith("step-")).toList(), "the old run's checkpoints are gone");
    }
    assertArrayEquals(firstRun, Files.readAllBytes(output.resolve("model.safetensors")));
    assertEquals(shardsWritten, Files.getLastModifiedTime(tmp.resolve("model.shards").resolve("manifest.json"))
        .toMillis(), "the shards are kept, not tokenized again");
  }

  private static Result pretrain(String[] args, String... more) {
    String[] all = Arrays.copyOf(args, args.length + more.length);
    System.arraycopy(more, 0, all, args.length, more.length);
    return EncodeCommandTest.run(new byte[0], all);
  }

  private static List<Long> steps(Path checkpoints) throws IOException {
    return HadoopCheckpointStore.readMetrics(checkpoints.toString(), new org.apache.hadoop.conf.Configuration())
        .stream().map(org.mosaicbert.train.StepMetrics::step).toList();
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
    assertTrue(exists.code() == 1 && exists.err().contains(existing + " exists, and " + existing + ".checkpoints "
        + "holds no checkpoint of the run that wrote it: give --overwrite"), exists.err());
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
