package org.mosaicbert.train;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The value of every training setting of one run, each checked against its declaration; immutable. Components are
 * built from it by name ({@code settings.get(TrainingSettings.LR)}), never from a row of same-typed numbers, so two
 * settings cannot be swapped silently. Checkpoints record it ({@link #recorded}) and a resume compares against that
 * ({@link #changesFrom}).
 */
public final class SettingValues implements Serializable {
  private final Map<String, Object> values; // by param name, in the table's order

  private SettingValues(Map<String, Object> values) {
    this.values = values;
  }

  /** Every setting at its declared default. */
  public static SettingValues defaults() {
    Map<String, Object> values = new LinkedHashMap<>();
    for (Setting<?> s : TrainingSettings.ALL) {
      values.put(s.param(), s.defaultValue());
    }
    return new SettingValues(values);
  }

  public <T> T get(Setting<T> setting) {
    return setting.type().cast(values.get(setting.param()));
  }

  /** These values with {@code setting} at {@code value}; a value it does not allow is refused, naming the setting. */
  public <T> SettingValues with(Setting<T> setting, Object value) {
    T checked;
    try {
      checked = setting.check(value);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(setting.param() + " = " + e.getMessage());
    }
    Map<String, Object> copy = new LinkedHashMap<>(values);
    copy.put(setting.param(), checked);
    return new SettingValues(copy);
  }

  /** The values as a checkpoint or a saved-settings file records them: param name to text, in the table's order. */
  public Map<String, String> recorded() {
    Map<String, String> out = new LinkedHashMap<>();
    for (Setting<?> s : TrainingSettings.ALL) {
      out.put(s.param(), String.valueOf(values.get(s.param())));
    }
    return out;
  }

  /**
   * The settings that differ from those {@code recorded} by a checkpoint, other than those free to change on a resume,
   * each as "name: recorded value in the checkpoint, value now". A setting the checkpoint does not record (one
   * written before the setting existed) is not compared.
   */
  public List<String> changesFrom(Map<String, String> recorded) {
    List<String> changes = new ArrayList<>();
    for (Setting<?> s : TrainingSettings.ALL) {
      String then = recorded.get(s.param());
      String now = String.valueOf(values.get(s.param()));
      if (then != null && !s.isFreeOnResume() && !sameValue(s, then, now)) {
        changes.add(s.param() + ": " + then + " in the checkpoint, " + now + " now");
      }
    }
    return changes;
  }

  /** Whether two recorded texts are one value of {@code s} (so that "0.001" and "1.0E-3" are). */
  private static boolean sameValue(Setting<?> s, String a, String b) {
    if (a.equals(b)) {
      return true;
    }
    try {
      return Objects.equals(s.check(a), s.check(b));
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  @Override
  public String toString() {
    return values.toString();
  }
}
