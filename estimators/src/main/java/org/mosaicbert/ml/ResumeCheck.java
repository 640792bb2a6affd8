package org.mosaicbert.ml;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.mosaicbert.train.LocalCheckpointStore;
import org.mosaicbert.train.TrainState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A resume cannot silently change a run. Before a fit with a checkpoint location starts, the driver reads the settings
 * the newest checkpoint was trained with and compares them with the fit's: a setting that differs (other than those
 * free to change, such as threads or the checkpoint interval) refuses the fit, naming each difference, unless
 * {@code allowChangedSettings} says the change is meant; then each change is logged and written beside the checkpoint.
 */
final class ResumeCheck {
  private static final Logger LOG = LoggerFactory.getLogger(ResumeCheck.class);

  private ResumeCheck() {}

  static void beforeFit(LaunchPlan plan, boolean allowChanges, Configuration conf) {
    if (plan.checkpointDir().isEmpty()) {
      return;
    }
    HadoopCheckpointStore store = HadoopCheckpointStore.of(plan.checkpointDir(), conf);
    try {
      Optional<Map<String, String>> newest = store.newestMetadata();
      if (newest.isEmpty()) {
        return;
      }
      String step = newest.get().getOrDefault("step", "?");
      List<String> changes = plan.training().settings().changesFrom(TrainState.recordedSettings(newest.get()));
      if (changes.isEmpty()) {
        return;
      }
      String listed = "\n  " + String.join("\n  ", changes);
      if (!allowChanges) {
        throw new IllegalArgumentException("checkpointDir " + plan.checkpointDir() + " holds a run at step " + step
            + " trained with other settings:" + listed + "\nresuming would change the run silently: fit with the "
            + "checkpoint's settings to resume it, give another checkpointDir to start a new run, or set "
            + "allowChangedSettings if the change is meant");
      }
      LOG.warn("resuming from step {} of {} with changed settings (allowChangedSettings):{}", step,
          plan.checkpointDir(), listed);
      Map<String, Object> record = new LinkedHashMap<>();
      record.put("step", Long.parseLong(step));
      record.put("changes", changes);
      record.put("settings", plan.training().settings().recorded());
      store.writeBeside("settings-changed-at-" + LocalCheckpointStore.stepFolder(Long.parseLong(step)) + ".json",
          new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(record));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the checkpoints in " + plan.checkpointDir() + ": " + e.getMessage(),
          e);
    }
  }
}
