package org.mosaicbert.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.schema.MessageType;
import org.mosaicbert.random.Hashing;
import org.mosaicbert.train.Sample;
import org.mosaicbert.train.SampleOrder;
import org.mosaicbert.train.SampleStream;

/**
 * The sample stream of a folder of shards, planned from its manifest alone: each epoch shuffles the (shard, row
 * group) blocks by (seed, epoch), groups them into windows of {@code window} blocks and shuffles the rows inside each
 * window. A rank therefore reads only the row groups of the windows its slices fall in, never the whole corpus, and
 * the order is the same whatever the number of workers.
 *
 * <p>Thread-safe: Spark hands all tasks of an executor the same broadcast stream, so ranks that share an executor
 * (local mode, executors with several cores) plan and load through the same caches.
 */
public final class ShardSampleStream implements SampleStream {
  private final String dir;
  private final ShardManifest manifest;
  private final HadoopConf conf;
  private final long seed;
  private final int window;
  private final int vocabSize;
  private transient Map<String, Sample[]> cache;
  private transient Map<Long, EpochPlan> plans;

  /** One row group: its shard, its index in the shard, its rows. */
  private record Block(int shard, int rowGroup, int rows) {}

  /**
   * Checks the manifest's row counts against the shards' Parquet footers (footers only: cheap), since the plan trusts
   * them: an overstated count would fail steps later, an understated one skip rows every epoch.
   *
   * @param vocabSize token ids must lie in [0, vocabSize)
   */
  public ShardSampleStream(String dir, ShardManifest manifest, HadoopConf conf, long seed, int window, int vocabSize) {
    if (manifest.totalRows() < 1) {
      throw new IllegalArgumentException("the shards in " + dir + " hold no samples: there is nothing to train on");
    }
    checkAgainstFooters(dir, manifest, conf);
    this.dir = dir;
    this.manifest = manifest;
    this.conf = conf;
    this.seed = seed;
    this.window = window;
    this.vocabSize = vocabSize;
  }

  private static void checkAgainstFooters(String dir, ShardManifest manifest, HadoopConf conf) {
    String fix = ": the manifest does not describe these shards (edited, or from another run); tokenize the corpus "
        + "again";
    long total = 0;
    for (ShardManifest.Shard shard : manifest.shards()) {
      Path file = new Path(dir, shard.path());
      List<Long> actual = new ArrayList<>();
      try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromPath(file, conf.toConfiguration()))) {
        reader.getRowGroups().forEach(g -> actual.add(g.getRowCount()));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read the Parquet footer of " + file + " (listed in " + dir + "/"
            + ShardManifest.FILE_NAME + "): " + e.getMessage(), e);
      }
      if (!actual.equals(shard.rowGroups())) {
        throw new IllegalArgumentException(file + ": " + ShardManifest.FILE_NAME + " lists row groups of "
            + shard.rowGroups() + " rows, its Parquet footer " + actual + fix);
      }
      long rows = actual.stream().mapToLong(Long::longValue).sum();
      if (shard.rows() != rows) {
        throw new IllegalArgumentException(file + ": " + ShardManifest.FILE_NAME + " says " + shard.rows()
            + " rows, its Parquet footer " + rows + fix);
      }
      total += rows;
    }
    if (manifest.totalRows() != total) {
      throw new IllegalArgumentException(dir + "/" + ShardManifest.FILE_NAME + " says total_rows " + manifest.totalRows()
          + ", its shards hold " + total + fix);
    }
  }

  @Override
  public long epochSize() {
    return manifest.totalRows();
  }

  private List<Block> blocks() {
    List<Block> blocks = new ArrayList<>();
    for (int s = 0; s < manifest.shards().size(); s++) {
      List<Long> groups = manifest.shards().get(s).rowGroups();
      for (int g = 0; g < groups.size(); g++) {
        blocks.add(new Block(s, g, Math.toIntExact(groups.get(g))));
      }
    }
    return blocks;
  }

  /** An epoch's windows: the blocks of each, and the stream offset (within the epoch) where each starts. */
  private record EpochPlan(List<List<Block>> windows, long[] starts) {
    int windowOf(long offset) {
      int i = Arrays.binarySearch(starts, offset);
      return i >= 0 ? i : -i - 2;
    }
  }

  private synchronized EpochPlan plan(long epoch) {
    if (plans == null) {
      plans = new LinkedHashMap<>(4, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, EpochPlan> eldest) {
          return size() > 2;
        }
      };
    }
    return plans.computeIfAbsent(epoch, e -> {
      List<Block> blocks = blocks();
      int[] order = SampleOrder.permutation(blocks.size(), Hashing.key(seed, e, 0xB10CL));
      List<List<Block>> windows = new ArrayList<>();
      for (int w = 0; w * window < blocks.size(); w++) {
        List<Block> members = new ArrayList<>();
        for (int i = w * window; i < Math.min(blocks.size(), (w + 1) * window); i++) {
          members.add(blocks.get(order[i]));
        }
        windows.add(members);
      }
      long[] starts = new long[windows.size()];
      for (int w = 1; w < windows.size(); w++) {
        starts[w] = starts[w - 1] + windows.get(w - 1).stream().mapToLong(Block::rows).sum();
      }
      return new EpochPlan(windows, starts);
    });
  }

  @Override
  public List<Sample> range(long first, int count) {
    List<Sample> out = new ArrayList<>(count);
    for (long p = first; p < first + count; p++) {
      long epoch = p / epochSize();
      long offset = p % epochSize();
      EpochPlan plan = plan(epoch);
      int w = plan.windowOf(offset);
      out.add(load(epoch, w, plan.windows().get(w))[(int) (offset - plan.starts()[w])]);
    }
    return out;
  }

  /** The row groups ("shard/rowGroup") that the stream positions [first, first + count) are read from. */
  public List<String> rowGroupsOf(long first, int count) {
    List<String> touched = new ArrayList<>();
    for (long p = first; p < first + count; p++) {
      EpochPlan plan = plan(p / epochSize());
      for (Block b : plan.windows().get(plan.windowOf(p % epochSize()))) {
        String id = b.shard() + "/" + b.rowGroup();
        if (!touched.contains(id)) {
          touched.add(id);
        }
      }
    }
    return touched;
  }

  /** The rows of one window, read from its row groups and shuffled; the last two windows stay cached. */
  private synchronized Sample[] load(long epoch, int w, List<Block> members) {
    if (cache == null) {
      cache = new LinkedHashMap<>(4, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Sample[]> eldest) {
          return size() > 2;
        }
      };
    }
    String key = epoch + "/" + w;
    Sample[] cached = cache.get(key);
    if (cached != null) {
      return cached;
    }
    List<Sample> rows = new ArrayList<>();
    for (Block b : members) {
      rows.addAll(readRowGroup(b));
    }
    int[] perm = SampleOrder.permutation(rows.size(), Hashing.key(seed, epoch, w, 0x0B5L));
    Sample[] shuffled = new Sample[rows.size()];
    for (int i = 0; i < perm.length; i++) {
      shuffled[i] = rows.get(perm[i]);
    }
    cache.put(key, shuffled);
    return shuffled;
  }

  private List<Sample> readRowGroup(Block b) {
    Path file = new Path(dir, manifest.shards().get(b.shard()).path());
    try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromPath(file, conf.toConfiguration()))) {
      MessageType schema = reader.getFooter().getFileMetaData().getSchema();
      PageReadStore pages = reader.readRowGroup(b.rowGroup());
      RecordReader<Group> records = new ColumnIOFactory().getColumnIO(schema)
          .getRecordReader(pages, new GroupRecordConverter(schema));
      List<Sample> out = new ArrayList<>(b.rows());
      for (long r = 0; r < pages.getRowCount(); r++) {
        Group row = records.read();
        long id = row.getLong("sample_id", 0);
        Group list = row.getGroup("input_ids", 0);
        int n = list.getFieldRepetitionCount("list");
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
          ids[i] = list.getGroup("list", i).getInteger("element", 0);
          if (ids[i] < 0 || ids[i] >= vocabSize) {
            throw new IllegalArgumentException("sample " + id + " in " + file + " has token id " + ids[i]
                + ", outside the vocabulary [0, " + vocabSize + ")");
          }
        }
        out.add(new Sample(id, ids));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read row group " + b.rowGroup() + " of " + file + ": " + e.getMessage(),
          e);
    }
  }
}
