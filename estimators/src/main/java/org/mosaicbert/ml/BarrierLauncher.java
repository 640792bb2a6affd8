package org.mosaicbert.ml;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.function.Supplier;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.resource.ResourceProfile;
import org.apache.spark.sql.SparkSession;
import org.mosaicbert.backend.cpu.CpuBackend;
import org.mosaicbert.backend.Backend;
import org.mosaicbert.collective.Collective;
import org.mosaicbert.collective.NcclCollective;
import org.mosaicbert.collective.TcpRingCollective;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.train.CheckpointStore;
import org.mosaicbert.train.CheckpointWriteFailed;
import org.mosaicbert.train.DataParallelTrainer;
import org.mosaicbert.train.SampleStream;
import org.mosaicbert.train.StepHook;
import org.mosaicbert.train.TrainingDiverged;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * The launcher: checks the cluster can run the workers at once, then runs one barrier stage with one task per worker.
 * Each task builds its rank's backend and collective from the {@link LaunchPlan}'s device (the CPU with a TCP ring,
 * whose peers learn each other's ports through {@code BarrierTaskContext.allGather} and present a per-job secret; a
 * GPU, which the stage asks for through its resource profile where the cluster manager allows, with NCCL) and runs
 * {@link DataParallelTrainer}. A shuffle after the stage lets Spark retry the whole stage when
 * a task dies; the retried tasks resume from the newest checkpoint.
 */
final class BarrierLauncher {
  private static final Logger LOG = LoggerFactory.getLogger(BarrierLauncher.class);

  private BarrierLauncher() {}

  /**
   * Trains by {@code plan} on {@code samples} and returns the final weights, which reach the driver as
   * {@link FinalWeights} says: through the checkpoint location when there is one, else in pieces through a shuffle.
   * The barrier stage asks its tasks for {@code stageProfile}'s resources ({@link DevicePlacement#gpuStageProfile}),
   * or the application's defaults when it is null.
   */
  static float[] run(SparkSession spark, LaunchPlan plan, ResourceProfile stageProfile, SampleStream samples,
      StepHook hook) {
    BarrierTimer.makeDaemon(); // in local mode the tasks run in this JVM, which Spark's timer would keep alive
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    Broadcast<SampleStream> data = jsc.broadcast(samples);
    byte[] secret = new byte[32];
    new SecureRandom().nextBytes(secret);
    boolean checkpoints = !plan.checkpointDir().isEmpty();
    CheckpointLocation location = checkpoints
        ? CheckpointLocation.mark(plan.checkpointDir(), spark.sparkContext().hadoopConfiguration()) : null;
    long resumedAt = location != null ? location.readyForRun() : 0;
    CheckpointStore store = checkpoints ? location.store() : CheckpointStore.none();
    long size = new ParameterLayout(plan.training().config(), plan.training().heads()).size();
    int pieceFloats = FinalWeights.pieceFloats(jsc.getConf());
    List<Integer> ranks = new ArrayList<>();
    for (int r = 0; r < plan.workers(); r++) {
      ranks.add(r);
    }
    JavaRDD<Integer> tasks = jsc.parallelize(ranks, plan.workers());
    if (stageProfile != null) {
      tasks = tasks.withResources(stageProfile);
    }
    JavaRDD<Tuple2<Integer, FinalWeights.Output>> trained = ScalaInterop.barrierMapPartitions(tasks,
        (Iterator<Integer> rank) -> {
          BarrierTaskContext ctx = BarrierTaskContext.get();
          boolean first = ctx.partitionId() == 0;
          if (location != null) {
            location.checkSeenBy(ctx.partitionId(), ctx.getTaskInfos()[ctx.partitionId()].address());
          }
          float[] weights;
          try {
            weights = trainRank(plan, data.value(), store, secret, hook);
          } catch (TrainingDiverged | CheckpointWriteFailed e) {
            return first ? List.of(new Tuple2<Integer, FinalWeights.Output>(0, FinalWeights.Stopped.by(e)))
                .iterator() : Collections.emptyIterator();
          }
          return first && !checkpoints ? FinalWeights.pieces(weights, pieceFloats) : Collections.emptyIterator();
        });
    // A shuffle after the barrier stage: a barrier stage that ends a job is not retried, one that feeds a shuffle is
    // (Spark 3.5), so a dead task reruns the whole stage, which resumes from the checkpoint. The shuffle also carries
    // the weights' pieces, one per partition after it.
    JavaPairRDD<Integer, FinalWeights.Output> outputs = JavaPairRDD.fromJavaRDD(trained)
        .partitionBy(new HashPartitioner(checkpoints ? 1 : FinalWeights.pieceCount(size, pieceFloats)));
    TrainingProgress progress = checkpoints
        ? new TrainingProgress(plan.checkpointDir(), spark.sparkContext().hadoopConfiguration(), resumedAt) : null;
    try {
      // With checkpoints, nothing comes but a stop: the weights are in the last checkpoint.
      float[] received = FinalWeights.receive(outputs.toLocalIterator(), checkpoints ? 0 : size, pieceFloats);
      return checkpoints ? FinalWeights.fromCheckpoint(location.store(), location.path(),
          plan.training().totalSteps()) : received;
    } finally {
      if (progress != null) {
        progress.close();
      }
      if (location != null) {
        location.unmark();
      }
      data.destroy();
    }
  }

  /** One barrier task: its rank's backend and collective, by the plan's device, then the trainer. */
  private static float[] trainRank(LaunchPlan plan, SampleStream samples, CheckpointStore store, byte[] secret,
      StepHook hook) {
    BarrierTaskContext ctx = BarrierTaskContext.get();
    int rank = ctx.partitionId();
    if (plan.device() == DevicePlacement.CPU) {
      return trainOnRing(plan, ctx, () -> new CpuBackend(plan.threadsPerWorker()), samples, store, secret, hook);
    }
    TaskGpu gpu = TaskGpu.of(ctx, rank, "worker " + rank + " on " + ctx.getTaskInfos()[rank].address());
    LOG.info("worker {}: CUDA device {}", rank, gpu.ordinal());
    if (!gpu.devices().reducesWithNccl()) {
      return trainOnRing(plan, ctx, () -> gpu.open(1), samples, store, secret, hook);
    }
    String id = rank == 0 ? Base64.getEncoder().encodeToString(NcclCollective.newUniqueId()) : "";
    byte[] uniqueId = Base64.getDecoder().decode(ctx.allGather(id)[0]);
    // NCCL before the backend's arena, which takes a share of the memory left; NCCL (2.22 and later) sets up its
    // connection buffers lazily at the first allreduce, out of the share the arena leaves free.
    try (NcclCollective nccl = new NcclCollective(rank, plan.workers(), uniqueId, gpu.ordinal(),
        plan.ringTimeoutSeconds() * 1000L)) {
      return DataParallelTrainer.train(plan.training(), gpu.open(1), nccl, samples, plan.initial(), store, hook);
    }
  }

  /**
   * Trains with the gradients reduced over a TCP ring through host memory: CPU workers, and GPU workers whose devices
   * NCCL cannot reach (the tests' emulated ones). The peers learn each other's ports through {@code allGather}.
   */
  private static float[] trainOnRing(LaunchPlan plan, BarrierTaskContext ctx, Supplier<Backend> backend,
      SampleStream samples, CheckpointStore store, byte[] secret, StepHook hook) {
    int rank = ctx.partitionId();
    String host = ctx.getTaskInfos()[rank].address().replaceAll(":\\d+$", "");
    // Bound to the address the ring advertises, not to every interface.
    try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getByName(host))) {
      String[] addresses = ctx.allGather(host + ":" + server.getLocalPort());
      try (Collective ring = new TcpRingCollective(rank, Arrays.asList(addresses), server, secret,
          plan.ringTimeoutSeconds() * 1000)) {
        return DataParallelTrainer.train(plan.training(), backend.get(), ring, samples, plan.initial(), store, hook);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("worker " + rank + ": " + e.getMessage(), e);
    }
  }
}
