package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.resource.ResourceInformation;
import org.junit.jupiter.api.Test;

/** How a fit picks its backend and a GPU worker its device; no GPU needed (none of this calls CUDA on a cluster). */
class DeviceSelectionTest {
  @Test
  void onAClusterDeviceGpuNeedsAGpuPerTask() {
    SparkConf plain = new SparkConf(false);
    String error = assertThrows(IllegalArgumentException.class,
        () -> DevicePlacement.GPU.resolve(plain, false)).getMessage();
    assertTrue(error.contains("spark.task.resource.gpu.amount") && error.contains("spark-defaults.gpu.conf"), error);
    SparkConf half = new SparkConf(false).set("spark.task.resource.gpu.amount", "0.5");
    String shared = assertThrows(IllegalArgumentException.class,
        () -> DevicePlacement.GPU.resolve(half, false)).getMessage();
    assertTrue(shared.contains("= 1") && shared.contains("0.5"), shared);
    SparkConf gpus = new SparkConf(false).set("spark.task.resource.gpu.amount", "1");
    assertEquals(DevicePlacement.GPU, DevicePlacement.GPU.resolve(gpus, false), "the driver needs no GPU of its own");
    assertEquals(DevicePlacement.CPU, DevicePlacement.CPU.resolve(gpus, false));
    assertEquals(DevicePlacement.CPU, DevicePlacement.AUTO.resolve(gpus, false),
        "auto stays on the CPU until the CUDA backend has passed the GPU suite");
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
    assertEquals(3, DevicePlacement.gpuOrdinal(three, 0, 8));
    assertEquals(1, DevicePlacement.gpuOrdinal(Map.of(), 1, 2), "no resource (local mode): the rank");
    String none = assertThrows(IllegalArgumentException.class, () -> DevicePlacement.gpuOrdinal(Map.of(), 2, 2))
        .getMessage();
    assertTrue(none.contains("worker 2 has no GPU") && none.contains("spark.task.resource.gpu.amount"), none);
    Map<String, ResourceInformation> uuid = Map.of("gpu", new ResourceInformation("gpu", new String[] {"GPU-5e1f"}));
    String bad = assertThrows(IllegalArgumentException.class, () -> DevicePlacement.gpuOrdinal(uuid, 0, 8))
        .getMessage();
    assertTrue(bad.contains("'GPU-5e1f'") && bad.contains("discoveryScript"), bad);
  }
}
