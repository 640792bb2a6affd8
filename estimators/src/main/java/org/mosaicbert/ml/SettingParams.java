package org.mosaicbert.ml;

import java.io.Serializable;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;
import org.mosaicbert.train.Setting;
import org.mosaicbert.train.SettingValues;
import scala.runtime.AbstractFunction1;

/**
 * The MLlib params of one stage for some of the training settings ({@link org.mosaicbert.train.TrainingSettings}),
 * each made from its declaration: name, doc, default, and a validator that is the declaration's own check.
 */
final class SettingParams implements Serializable {
  private final Map<String, Param<Object>> params = new LinkedHashMap<>();

  /** Builds the params of {@code settings} for {@code stage} (whose uid must be set) and sets their defaults. */
  SettingParams(Params stage, Collection<Setting<?>> settings) {
    for (Setting<?> s : settings) {
      Param<Object> param = create(stage, s);
      params.put(s.param(), param);
      stage.setDefault(param, s.defaultValue());
    }
  }

  @SuppressWarnings("unchecked")
  private static Param<Object> create(Params stage, Setting<?> s) {
    Class<?> type = s.type();
    Object param = type == Integer.class ? new IntParam(stage, s.param(), s.doc(), new Checked<>(s))
        : type == Long.class ? new LongParam(stage, s.param(), s.doc(), new Checked<>(s))
        : type == Double.class ? new DoubleParam(stage, s.param(), s.doc(), new Checked<>(s))
        : new Param<String>(stage, s.param(), s.doc(), new Checked<String>(s));
    return (Param<Object>) param;
  }

  /** The param of {@code setting}; fails when this stage does not have it. */
  Param<Object> of(Setting<?> setting) {
    Param<Object> param = params.get(setting.param());
    if (param == null) {
      throw new IllegalArgumentException("no param " + setting.param() + " here");
    }
    return param;
  }

  boolean has(Setting<?> setting) {
    return params.containsKey(setting.param());
  }

  List<Param<Object>> all() {
    return List.copyOf(params.values());
  }

  /** {@code values} with these params' values on {@code stage} (set or default). */
  SettingValues read(Params stage, SettingValues values) {
    for (Map.Entry<String, Param<Object>> e : params.entrySet()) {
      values = values.with(org.mosaicbert.train.TrainingSettings.byParam(e.getKey()), stage.getOrDefault(e.getValue()));
    }
    return values;
  }

  /** A param's validator: the setting's own check, so the param, the recipe and the flag accept the same values. */
  private static final class Checked<T> extends AbstractFunction1<T, Object> implements Serializable {
    private final Setting<?> setting;

    Checked(Setting<?> setting) {
      this.setting = setting;
    }

    @Override
    public Object apply(T value) {
      try {
        setting.check(value);
        return true;
      } catch (IllegalArgumentException e) {
        return false;
      }
    }
  }
}
