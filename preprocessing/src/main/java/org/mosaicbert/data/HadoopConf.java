package org.mosaicbert.data;

import java.io.Serializable;
import java.util.HashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * A Hadoop configuration as serializable data, so that executors open files with the driver's settings
 * ({@code spark.hadoop.*}: credentials, endpoints) rather than bare defaults.
 */
public record HadoopConf(Map<String, String> entries) implements Serializable {
  public static HadoopConf of(Configuration conf) {
    Map<String, String> entries = new HashMap<>();
    conf.forEach(e -> entries.put(e.getKey(), e.getValue()));
    return new HadoopConf(entries);
  }

  public Configuration toConfiguration() {
    Configuration conf = new Configuration(false);
    entries.forEach(conf::set);
    return conf;
  }
}
