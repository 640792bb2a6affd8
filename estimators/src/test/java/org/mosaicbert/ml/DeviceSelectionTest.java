package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.resource.ResourceProfile;
import org.junit.jupiter.api.Test;
import org.mosaicbert.backend.cuda.EmulatedGpus;
import org.mosaicbert.backend.cuda.GpuDevices;

/** How a fit picks its backend and a GPU worker its device; no GPU needed (none of this calls CUDA on a cluster). */
class DeviceSelectionTest {
  @Test
  void onAClusterDeviceGpuNeedsAGpuPerTask() {
    SparkConf plain = new SparkConf(false);
    String error = assertThrows(IllegalArgumentException.class,
        () -> DevicePlacement.GPU.resolve(plain, false, 2)).getMessage();
    assertTrue(error.contains("spark.task.resource.gpu.amount") && error.contains("spark-defaults.gpu.conf"), error);
    SparkConf half = new SparkConf(false).set("spark.task.resource.gpu.amount", "0.5");
    String shared = assertThrows(IllegalArgumentException.class,
        () -> DevicePlacement.GPU.resolve(half, false, 2)).getMessage();
    assertTrue(shared.contains("= 1") && shared.contains("0.5"), shared);
    SparkConf gpus = new SparkConf(false).set("spark.task.resource.gpu.amount", "1");
    assertEquals(DevicePlacement.GPU, DevicePlacement.GPU.resolve(gpus, false, 2), "the driver needs no GPU of its own");
    assertEquals(DevicePlacement.CPU, DevicePlacement.CPU.resolve(gpus, false, 2));
    assertEquals(DevicePlacement.CPU, DevicePlacement.AUTO.resolve(gpus, false, 2),
        "auto stays on the CPU until the CUDA backend has passed the GPU suite");
  }

  @Test
  void whereTheClusterManagerAllowsTheTrainingStageAsksForAGpuATaskItself() {
    SparkConf standalone = new SparkConf(false).setMaster("spark://head:7077")
        .set("spark.executor.resource.gpu.amount", "4");
    assertEquals(DevicePlacement.GPU, DevicePlacement.GPU.resolve(standalone, false, 8));
    ResourceProfile profile = DevicePlacement.gpuStageProfile(standalone, 6);
    assertEquals(1.0, profile.taskResources().get("gpu").get().amount(), "one GPU a task");
    assertEquals(6.0, profile.taskResources().get("cpus").get().amount(), "and the worker's threads");
    assertNull(DevicePlacement.gpuStageProfile(standalone.clone().set("spark.task.resource.gpu.amount", "1"), 6),
        "the configuration asks already: every task of the application takes a GPU");
    assertNull(DevicePlacement.gpuStageProfile(new SparkConf(false).setMaster("local[4]"), 6), "local mode");
    SparkConf noGpus = new SparkConf(false).setMaster("yarn");
    String none = assertThrows(IllegalArgumentException.class, () -> DevicePlacement.GPU.resolve(noGpus, false, 2))
        .getMessage();
    assertTrue(none.contains("needs GPUs on the executors: spark.executor.resource.gpu.amount"), none);
    SparkConf other = new SparkConf(false).setMaster("custom://head").set("spark.executor.resource.gpu.amount", "4");
    String route = assertThrows(IllegalArgumentException.class, () -> DevicePlacement.GPU.resolve(other, false, 2))
        .getMessage();
    assertTrue(route.contains("no stage-level scheduling") && route.contains("spark.task.resource.gpu.amount = 1"),
        route);
  }

  @Test
  void tooFewSlotsNameTheGpuSettingsWhenTasksTakeGpus() {
    assertEquals("", ClusterSlots.gpuSlots(new SparkConf(false), null), "CPU tasks: cores alone limit the slots");
    SparkConf gpus = new SparkConf(false).set("spark.executor.resource.gpu.amount", "2")
        .set("spark.task.resource.gpu.amount", "1");
    assertEquals(", spark.executor.resource.gpu.amount 2 and spark.task.resource.gpu.amount 1: a task slot needs a "
        + "GPU", ClusterSlots.gpuSlots(gpus, null));
    SparkConf perStage = new SparkConf(false).setMaster("spark://head:7077")
        .set("spark.executor.resource.gpu.amount", "2");
    assertEquals(", spark.executor.resource.gpu.amount 2 and one GPU a task (the training stage's resource profile): "
        + "a task slot needs a GPU", ClusterSlots.gpuSlots(perStage, DevicePlacement.gpuStageProfile(perStage, 1)));
  }

  @Test
  void theParamIsParsedOnceAndAnUnknownValueIsNamed() {
    assertEquals(DevicePlacement.AUTO, DevicePlacement.of("auto"));
    String tpu = assertThrows(IllegalArgumentException.class, () -> DevicePlacement.of("tpu")).getMessage();
    assertTrue(tpu.contains("device must be one of [cpu, gpu, auto], not 'tpu'"), tpu);
  }

  @Test
  void aWorkerTakesTheGpuSparkGaveItsTask() {
    Map<String, ResourceInformation> three = Map.of("gpu", new ResourceInformation("gpu", new String[] {"3"}));
    assertEquals(3, DevicePlacement.gpuOrdinal(three, 0, 8, null));
    assertEquals(1, DevicePlacement.gpuOrdinal(Map.of(), 1, 2, null), "no resource (local mode): the rank");
    String none = assertThrows(IllegalArgumentException.class, () -> DevicePlacement.gpuOrdinal(Map.of(), 2, 2, null))
        .getMessage();
    assertTrue(none.contains("worker 2 has no GPU") && none.contains("spark.task.resource.gpu.amount"), none);
    Map<String, ResourceInformation> uuid = Map.of("gpu", new ResourceInformation("gpu", new String[] {"GPU-5e1f"}));
    String bad = assertThrows(IllegalArgumentException.class, () -> DevicePlacement.gpuOrdinal(uuid, 0, 8, null))
        .getMessage();
    assertTrue(bad.contains("'GPU-5e1f'") && bad.contains("discoveryScript"), bad);
    String absent = assertThrows(IllegalArgumentException.class, () -> DevicePlacement.gpuOrdinal(three, 0, 2, null))
        .getMessage();
    assertTrue(absent.contains("device 3") && absent.contains("sees 2 CUDA device(s)"), absent);
  }

  @Test
  void cudaVisibleDevicesRenumbersTheGpusSparkNamesByTheirIndex() {
    Map<String, ResourceInformation> three = Map.of("gpu", new ResourceInformation("gpu", new String[] {"3"}));
    assertEquals(1, DevicePlacement.gpuOrdinal(three, 0, 2, "2,3"), "CUDA sees devices 2 and 3 as 0 and 1");
    assertEquals(0, DevicePlacement.gpuOrdinal(three, 0, 1, " 3 "));
    Map<String, ResourceInformation> uuid = Map.of("gpu", new ResourceInformation("gpu", new String[] {"GPU-5e1f"}));
    assertEquals(1, DevicePlacement.gpuOrdinal(uuid, 0, 2, "GPU-aa01,GPU-5e1f"), "as the list names them");
    assertEquals(3, DevicePlacement.gpuOrdinal(three, 0, 8, ""), "set but empty: as if unset");
    String hidden = assertThrows(IllegalArgumentException.class,
        () -> DevicePlacement.gpuOrdinal(three, 1, 2, "0,1")).getMessage();
    assertTrue(hidden.startsWith("worker 1: the task's gpu resource is '3', but CUDA_VISIBLE_DEVICES=0,1"), hidden);
  }

  @Test
  void inLocalModeEachWorkerNeedsADeviceOfItsOwn() {
    SparkConf emulated = new SparkConf(false).set(GpuDevices.SPARK_CONF, EmulatedGpus.class.getName());
    assumeTrue(new EmulatedGpus().probe().available(), "no g++: the emulated device cannot be built");
    assertEquals(DevicePlacement.GPU, DevicePlacement.GPU.resolve(emulated, true, EmulatedGpus.DEVICES));
    String more = assertThrows(IllegalArgumentException.class,
        () -> DevicePlacement.GPU.resolve(emulated, true, EmulatedGpus.DEVICES + 1)).getMessage();
    assertTrue(more.startsWith("numWorkers 3 is more than the 2 CUDA device(s) of this machine"), more);
    SparkConf wrong = new SparkConf(false).set(GpuDevices.SPARK_CONF, "org.example.NoSuchGpus");
    String named = assertThrows(IllegalArgumentException.class, () -> DevicePlacement.GPU.resolve(wrong, true, 1))
        .getMessage();
    assertTrue(named.startsWith(GpuDevices.SPARK_CONF + " = org.example.NoSuchGpus: not a GpuDevices class"), named);
  }
}
