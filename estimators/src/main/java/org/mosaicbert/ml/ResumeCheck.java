package org.mosaicbert.ml;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.mosaicbert.io.SafeTensors;
import org.mosaicbert.model.ParameterLayout;
import org.mosaicbert.train.LocalCheckpointStore;
import org.mosaicbert.train.TrainState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A resume cannot silently change a run. Before a fit with a checkpoint location starts, the driver reads the settings
 * the newest checkpoint was trained with and compares them with the fit's: a setting that differs (other than those
 * free to change, such as threads or the checkpoint interval) refuses the fit, naming each difference, unless
 * {@code allowChangedSettings} says the change is meant; then each change is logged and written beside the checkpoint.
 * A checkpoint of another model's size is refused in any case, here rather than in every retried task.
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
      Optional<SafeTensors.Header> newest = store.newestHeader();
      if (newest.isEmpty()) {
        return;
      }
      String step = newest.get().metadata().getOrDefault("step", "?");
      long[] shape = newest.get().shapes().getOrDefault(TrainState.PARAMS, new long[] {-1});
      long parameters = new ParameterLayout(plan.training().config(), plan.training().heads()).size();
      if (shape.length != 1 || shape[0] != parameters) {
        throw new IllegalArgumentException("checkpointDir " + plan.checkpointDir() + " holds a run at step " + step
            + " of a model with " + (shape.length == 1 ? shape[0] : "an unreadable count of") + " parameters, and "
            + "this fit's model has " + parameters + ": it was trained with another model config (preset); give "
            + "another checkpointDir to start a new run, or fit with that run's model config to resume it");
      }
      List<String> changes = plan.training().settings().changesFrom(TrainState.recordedSettings(newest.get()
          .metadata()));
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
      LOG.warn("resuming from step {} of {} with changed settings, as asked:{}", step,
          plan.checkpointDir(), listed);
      Map<String, Object> record = new LinkedHashMap<>();
      record.put("step", Long.parseLong(step));
      record.put("changes", changes);
      record.put("settings", plan.training().settings().recorded());
      store.writeBeside("settings-changed-at-" + LocalCheckpointStore.stepFolder(Long.parseLong(step)) + ".json",
          new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(record));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the checkpoints in " + plan.checkpointDir() + ": " + e.getMessage(),
          e);
    }
  }
}
