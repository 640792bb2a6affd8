package org.mosaicbert.ml;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.backend.cuda.CudaBackend;
import org.mosaicbert.backend.cuda.CudaProbe;
import org.mosaicbert.collective.Collective;
import org.mosaicbert.collective.NcclCollective;
import org.mosaicbert.collective.TcpRingCollective;
import org.mosaicbert.data.HadoopConf;
import org.mosaicbert.data.ShardManifest;
import org.mosaicbert.train.CheckpointStore;
import org.mosaicbert.train.DataParallelTrainer;
import org.mosaicbert.train.InitialWeights;
import org.mosaicbert.train.Sample;
import org.mosaicbert.train.SampleStream;
import org.mosaicbert.train.StepHook;
import org.mosaicbert.train.TrainPlan;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The launcher: checks the cluster can run the workers at once, then runs one barrier stage with one task per worker.
 * Each task binds a port, learns its peers' through {@code BarrierTaskContext.allGather}, joins the TCP ring (a
 * per-job secret keeps strangers out) and runs {@link DataParallelTrainer}. A shuffle after the stage lets Spark retry
 * the whole stage when a task dies; the retried tasks resume from the newest checkpoint.
 */
final class BarrierTraining {
  private static final Logger LOG = LoggerFactory.getLogger(BarrierTraining.class);

  /**
   * The backend a fit trains on, from the {@code device} param, decided on the driver: "cpu" always; "gpu" on a
   * cluster when tasks get a GPU each ({@code spark.task.resource.gpu.amount}), in local mode when {@link CudaProbe}
   * finds a usable device, else an {@link IllegalArgumentException} saying what is missing; "auto" the CPU, said in
   * the log: the CUDA backend has passed the GPU suite on one H200 (issue 15), but GPU training through Spark's
   * barrier tasks and NCCL across two or more GPUs have never run. Until they have, device=gpu trains on it with a
   * warning and device=auto does not.
   */
  static String resolveDevice(String device, SparkConf conf, boolean localMaster) {
    switch (device) {
      case "cpu":
        return "cpu";
      case "auto":
        // No probe: auto cannot pick the GPU yet, and a CPU run need not load the CUDA libraries.
        LOG.info("device=auto: training on the CPU (GPU training through Spark has not run yet; device=gpu uses "
            + "the GPU anyway)");
        return "cpu";
      case "gpu":
        String where;
        if (localMaster) {
          CudaProbe.Result cuda = CudaProbe.probe();
          if (!cuda.available()) {
            throw new IllegalArgumentException("device=gpu, but there is " + cuda.describe() + "; use device=cpu, "
                + "or device=auto to fall back to the CPU");
          }
          where = "found " + cuda.describe();
        } else {
          double amount = conf.getDouble("spark.task.resource.gpu.amount", 0);
          if (amount < 1 || amount != Math.rint(amount)) {
            throw new IllegalArgumentException("device=gpu on a cluster needs spark.task.resource.gpu.amount = 1 "
                + "(each training task a whole GPU of its own: NCCL refuses two ranks on one GPU), got "
                + (amount == 0 ? "none" : amount) + "; see conf/spark-defaults.gpu.conf, or use device=cpu");
          }
          where = "one GPU per task";
        }
        LOG.warn("device=gpu ({}): the CUDA backend has passed the GPU suite on one H200, but training through Spark "
            + "and NCCL across GPUs has NEVER RUN; run scripts/gpu-check.sh on one of your GPUs first, and compare the "
            + "loss curve with a device=cpu run", where);
        return "gpu";
      default:
        throw new IllegalArgumentException("device must be cpu, gpu or auto, not '" + device + "'");
    }
  }

  /**
   * The CUDA ordinal of a GPU worker: the first address of the task's {@code gpu} resource (Spark's resource
   * scheduling), else, with no such resource (local mode), the worker's rank when the machine has that many devices.
   */
  static int gpuOrdinal(java.util.Map<String, org.apache.spark.resource.ResourceInformation> resources, int rank,
      int deviceCount) {
    org.apache.spark.resource.ResourceInformation gpu = resources.get("gpu");
    if (gpu != null && gpu.addresses().length > 0) {
      String address = gpu.addresses()[0].trim();
      try {
        return Integer.parseInt(address);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("worker " + rank + ": the task's gpu resource address '" + address
            + "' is not a CUDA device number; the discovery script (spark.executor.resource.gpu.discoveryScript) "
            + "must list GPUs by index, as Spark's getGpusResources.sh does");
      }
    }
    if (rank >= deviceCount) {
      throw new IllegalArgumentException("worker " + rank + " has no GPU: the task has no gpu resource and this "
          + "machine has " + deviceCount + " CUDA device(s); set spark.task.resource.gpu.amount=1 with the executors' "
          + "gpu resources (conf/spark-defaults.gpu.conf), or lower numWorkers");
    }
    return rank;
  }

  private BarrierTraining() {}

  /**
   * The dataset in its stable order: by sample id when the column exists, else by row order (with generated ids).
   * Token ids are checked against the vocabulary. The samples travel to the workers as a broadcast, so this path is
   * for datasets that fit in memory (the default corpus, fine-tuning sets, samples of C4).
   */
  static List<Sample> collectSamples(Dataset<Row> df, String idsCol, String sampleIdCol, int vocabSize,
      int maxSeqLen) {
    boolean hasIds = Arrays.asList(df.columns()).contains(sampleIdCol);
    List<Row> rows = hasIds ? df.select(sampleIdCol, idsCol).orderBy(sampleIdCol).collectAsList()
        : df.select(idsCol).collectAsList();
    List<Sample> samples = new ArrayList<>(rows.size());
    for (int i = 0; i < rows.size(); i++) {
      Row row = rows.get(i);
      long id = hasIds ? row.getLong(0) : i;
      List<Integer> list = row.getList(hasIds ? 1 : 0);
      if (list == null || list.isEmpty()) {
        throw new IllegalArgumentException("sample " + id + " has no token ids in column '" + idsCol + "'");
      }
      if (list.size() > maxSeqLen) {
        throw new IllegalArgumentException("sample " + id + " has " + list.size() + " tokens, more than maxSeqLen "
            + maxSeqLen + "; tokenize with a smaller --max-seq-len or raise maxSeqLen");
      }
      int[] ids = new int[list.size()];
      for (int p = 0; p < ids.length; p++) {
        Integer v = list.get(p);
        if (v == null || v < 0 || v >= vocabSize) {
          throw new IllegalArgumentException("sample " + id + " has token id " + v + " at position " + p
              + ", outside the vocabulary [0, " + vocabSize + "): the data and the vocabulary do not match");
        }
        ids[p] = v;
      }
      samples.add(new Sample(id, ids));
    }
    if (samples.isEmpty()) {
      throw new IllegalArgumentException("the dataset is empty: there is nothing to train on");
    }
    return samples;
  }

  /**
   * A labelled dataset (fine-tuning) in row order: texts tokenized here with the vocabulary ([CLS] a [SEP] b [SEP],
   * truncated longest-first to maxSeqLen), or token ids taken from {@code idsCol} when {@code textCol} is empty.
   * String labels become their index in {@code labelNames} (null when the label column holds numbers). Texts are
   * normalized as the model's were in training ({@code normalizer}).
   */
  static List<Sample> collectLabelled(Dataset<Row> df, String textCol, String pairCol, String idsCol, String labelCol,
      List<String> labelNames, org.mosaicbert.tokenizer.Vocabulary vocabulary,
      org.mosaicbert.tokenizer.BertNormalizer normalizer, int maxSeqLen, int vocabSize) {
    boolean text = !textCol.isEmpty();
    boolean pair = text && !pairCol.isEmpty();
    List<String> tokens = new ArrayList<>();
    for (int i = 0; i < vocabulary.size(); i++) {
      tokens.add(vocabulary.token(i));
    }
    org.mosaicbert.tokenizer.BertWordPieceTokenizer tokenizer = org.mosaicbert.tokenizer.TokenizerSpec.bert(tokens,
        normalizer).build();
    List<Row> rows = (text ? pair ? df.select(textCol, pairCol, labelCol) : df.select(textCol, labelCol)
        : df.select(idsCol, labelCol)).collectAsList();
    List<Sample> samples = new ArrayList<>(rows.size());
    for (int i = 0; i < rows.size(); i++) {
      Row row = rows.get(i);
      int labelIndex = row.size() - 1;
      if (row.isNullAt(labelIndex)) {
        throw new IllegalArgumentException("row " + i + " has no label in column '" + labelCol + "'");
      }
      float label = labelNames == null ? ((Number) row.get(labelIndex)).floatValue()
          : labelNames.indexOf(row.getString(labelIndex));
      if (text) {
        if (row.isNullAt(0)) {
          throw new IllegalArgumentException("row " + i + " has a null text in column '" + textCol + "'");
        }
        org.mosaicbert.tokenizer.Encoding e = tokenizer.encode(row.getString(0),
            pair ? (row.isNullAt(1) ? "" : row.getString(1)) : null, maxSeqLen);
        samples.add(new Sample(i, e.ids(), e.typeIds(), label));
      } else {
        List<Integer> list = row.getList(0);
        int[] ids = list.stream().mapToInt(Integer::intValue).toArray();
        for (int id : ids) {
          if (id < 0 || id >= vocabSize) {
            throw new IllegalArgumentException("row " + i + " has token id " + id + ", outside the vocabulary");
          }
        }
        samples.add(new Sample(i, ids, null, label));
      }
    }
    if (samples.isEmpty()) {
      throw new IllegalArgumentException("the dataset is empty: there is nothing to train on");
    }
    return samples;
  }

  /**
   * The manifest of the shard folder a DataFrame reads, when the DataFrame is exactly a read of that folder's shards
   * (no filter, no projection of other sources); else null.
   */
  static ShardManifest manifestOf(Dataset<?> df, org.apache.hadoop.conf.Configuration conf) {
    if (!(df.queryExecution().analyzed()
        instanceof org.apache.spark.sql.execution.datasources.LogicalRelation)) {
      return null;
    }
    String[] files = df.inputFiles();
    if (files.length == 0) {
      return null;
    }
    org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(files[0]).getParent();
    try {
      if (!dir.getFileSystem(conf).exists(new org.apache.hadoop.fs.Path(dir, ShardManifest.FILE_NAME))) {
        return null;
      }
    } catch (IOException e) {
      return null;
    }
    ShardManifest manifest = ShardManifest.read(dir, conf);
    java.util.Set<String> read = new java.util.TreeSet<>();
    for (String f : files) {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(f);
      if (!p.getParent().equals(dir)) {
        return null;
      }
      read.add(p.getName());
    }
    java.util.Set<String> shards = new java.util.TreeSet<>();
    manifest.shards().forEach(s -> shards.add(s.path()));
    return read.equals(shards) ? manifest : null;
  }

  static float[] run(SparkSession spark, TrainPlan plan, String device, int threads, SampleStream samples,
      float[] initial, String checkpointDir, int timeoutSeconds, StepHook hook) {
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    int workers = plan.batching().workers();
    checkCluster(jsc, workers);
    Broadcast<SampleStream> data = jsc.broadcast(samples);
    Broadcast<float[]> init = jsc.broadcast(initial);
    byte[] secret = new byte[32];
    new SecureRandom().nextBytes(secret);
    CheckpointStore store = checkpointDir.isEmpty() ? CheckpointStore.none()
        : new HadoopCheckpointStore(checkpointDir, HadoopConf.of(spark.sparkContext().hadoopConfiguration()));
    List<Integer> ranks = new ArrayList<>();
    for (int r = 0; r < workers; r++) {
      ranks.add(r);
    }
    int timeoutMillis = timeoutSeconds * 1000;
    scala.Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<float[]>> task =
        (scala.Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<float[]>> & Serializable)
            it -> scala.collection.JavaConverters.asScalaIteratorConverter(
                (device.equals("gpu") ? trainRankOnGpu(plan, data.value(), weights(init), store, timeoutMillis, hook)
                    : trainRank(plan, threads, data.value(), weights(init), store, secret, timeoutMillis, hook)))
                .asScala();
    JavaRDD<float[]> trained = JavaRDD.fromRDD(jsc.parallelize(ranks, workers).rdd().barrier()
        .mapPartitions(task, false, scala.reflect.ClassTag$.MODULE$.apply(float[].class)),
        scala.reflect.ClassTag$.MODULE$.apply(float[].class))
        // A shuffle after the barrier stage: a barrier stage that ends a job is not retried, one that feeds a
        // shuffle is (Spark 3.5), so a dead task reruns the whole stage, which resumes from the checkpoint.
        .repartition(1);
    TrainingProgress progress = checkpointDir.isEmpty() ? null
        : new TrainingProgress(checkpointDir, spark.sparkContext().hadoopConfiguration());
    try {
      List<float[]> result = trained.collect();
      return result.get(0);
    } finally {
      if (progress != null) {
        progress.close();
      }
      data.destroy();
      init.destroy();
    }
  }

  private static InitialWeights weights(Broadcast<float[]> initial) {
    return initial.value() == null ? InitialWeights.fromSeed() : (layout, config, seed) -> initial.value();
  }

  private static Iterator<float[]> trainRank(TrainPlan plan, int threads, SampleStream samples,
      InitialWeights initial, CheckpointStore store, byte[] secret, int timeoutMillis, StepHook hook) {
    BarrierTaskContext ctx = BarrierTaskContext.get();
    int rank = ctx.partitionId();
    String host = ctx.getTaskInfos()[rank].address().replaceAll(":\\d+$", "");
    // Bound to the address the ring advertises, not to every interface.
    try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getByName(host))) {
      String[] addresses = ctx.allGather(host + ":" + server.getLocalPort());
      try (Collective ring = new TcpRingCollective(rank, Arrays.asList(addresses), server, secret, timeoutMillis)) {
        float[] params = DataParallelTrainer.train(plan, new CpuBackend(threads), ring, samples, initial, store,
            hook);
        return rank == 0 ? List.of(params).iterator() : java.util.Collections.emptyIterator();
      }
    } catch (IOException e) {
      throw new UncheckedIOException("worker " + rank + ": " + e.getMessage(), e);
    }
  }

  /**
   * A GPU worker: its device from the task's resources, NCCL's unique id from rank 0 through {@code allGather}, then
   * the CUDA backend with the gradients reduced in device memory. NEVER RUN through Spark (GpuCheck has run its
   * trainer, backend and one-rank NCCL on an H200).
   */
  private static Iterator<float[]> trainRankOnGpu(TrainPlan plan, SampleStream samples, InitialWeights initial,
      CheckpointStore store, int timeoutMillis, StepHook hook) {
    BarrierTaskContext ctx = BarrierTaskContext.get();
    int rank = ctx.partitionId();
    CudaProbe.Result cuda = CudaProbe.probe();
    if (!cuda.available()) {
      throw new IllegalStateException("worker " + rank + " on " + ctx.getTaskInfos()[rank].address()
          + ": device=gpu, but there is " + cuda.describe());
    }
    int device = gpuOrdinal(ctx.resourcesJMap(), rank, cuda.deviceCount());
    String id = rank == 0 ? java.util.Base64.getEncoder().encodeToString(NcclCollective.newUniqueId()) : "";
    byte[] uniqueId = java.util.Base64.getDecoder().decode(ctx.allGather(id)[0]);
    LOG.info("worker {}: CUDA device {}", rank, device);
    // NCCL before the backend's arena, which takes a share of the memory left; NCCL (2.22 and later) sets up its
    // connection buffers lazily at the first allreduce, out of the share the arena leaves free.
    try (NcclCollective nccl = new NcclCollective(rank, plan.batching().workers(), uniqueId, device,
        timeoutMillis)) {
      float[] params = DataParallelTrainer.train(plan, CudaBackend.open(device), nccl, samples, initial, store,
          hook);
      return rank == 0 ? List.of(params).iterator() : java.util.Collections.emptyIterator();
    }
  }

  /** A barrier stage waits for all its slots at once; with too few it would wait for minutes, then fail. */
  private static void checkCluster(JavaSparkContext jsc, int workers) {
    SparkConf conf = jsc.getConf();
    if (conf.getBoolean("spark.dynamicAllocation.enabled", false)) {
      throw new IllegalArgumentException("spark.dynamicAllocation.enabled=true: Spark refuses barrier stages with "
          + "dynamic allocation; turn it off for training");
    }
    int cpusPerTask = conf.getInt("spark.task.cpus", 1);
    int slots = jsc.sc().defaultParallelism() / cpusPerTask;
    if (workers > slots) {
      throw new IllegalArgumentException("numWorkers " + workers + " is more than the " + slots + " tasks this "
          + "cluster can run at once (default parallelism " + jsc.sc().defaultParallelism() + " / spark.task.cpus "
          + cpusPerTask + "); a barrier stage needs them all together: lower numWorkers or add executors");
    }
    if (!conf.contains("spark.barrier.sync.timeout")) {
      LOG.warn("spark.barrier.sync.timeout is not set (Spark's default is a year); set it, e.g. to 600 seconds, so "
          + "that a lost worker ends the stage instead of stalling it");
    }
  }
}
