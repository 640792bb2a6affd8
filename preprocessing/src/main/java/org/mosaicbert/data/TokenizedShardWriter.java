package org.mosaicbert.data;

import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.api.RecordConsumer;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;

/**
 * Writes one Parquet shard of tokenized samples: {@code sample_id long, input_ids array<int>, num_tokens int}, in
 * the standard three-level LIST layout that Spark reads as {@code array<int>}. Writing the records straight to the
 * Parquet record consumer keeps the shard's name, row order and row groups under our control (Spark's writer names
 * files at random).
 */
public final class TokenizedShardWriter implements AutoCloseable {
  public static final MessageType SCHEMA = MessageTypeParser.parseMessageType("""
      message sample {
        required int64 sample_id;
        required group input_ids (LIST) {
          repeated group list {
            required int32 element;
          }
        }
        required int32 num_tokens;
      }""");

  private final ParquetWriter<TokenizedSample> writer;
  private long rows;
  private long tokens;

  public TokenizedShardWriter(Path file, Configuration conf, long rowGroupBytes) throws IOException {
    writer = new Builder(file).withConf(conf)
        .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
        .withCompressionCodec(CompressionCodecName.SNAPPY)
        .withRowGroupSize(rowGroupBytes)
        .build();
  }

  public void write(TokenizedSample sample) throws IOException {
    writer.write(sample);
    rows++;
    tokens += sample.inputIds().length;
  }

  public long rows() {
    return rows;
  }

  public long tokens() {
    return tokens;
  }

  /** Rows of each row group; valid after {@link #close()}. */
  public List<Long> rowGroups() {
    return writer.getFooter().getBlocks().stream().map(BlockMetaData::getRowCount).toList();
  }

  @Override
  public void close() throws IOException {
    writer.close();
  }

  private static final class Builder extends ParquetWriter.Builder<TokenizedSample, Builder> {
    Builder(Path file) {
      super(file);
    }

    @Override
    protected Builder self() {
      return this;
    }

    @Override
    protected WriteSupport<TokenizedSample> getWriteSupport(Configuration conf) {
      return new SampleWriteSupport();
    }
  }

  private static final class SampleWriteSupport extends WriteSupport<TokenizedSample> {
    private RecordConsumer out;

    @Override
    public WriteContext init(Configuration configuration) {
      return new WriteContext(SCHEMA, new HashMap<>());
    }

    @Override
    public void prepareForWrite(RecordConsumer recordConsumer) {
      out = recordConsumer;
    }

    @Override
    public void write(TokenizedSample sample) {
      out.startMessage();
      out.startField("sample_id", 0);
      out.addLong(sample.sampleId());
      out.endField("sample_id", 0);
      out.startField("input_ids", 1);
      out.startGroup();
      int[] ids = sample.inputIds();
      if (ids.length > 0) {
        out.startField("list", 0);
        for (int id : ids) {
          out.startGroup();
          out.startField("element", 0);
          out.addInteger(id);
          out.endField("element", 0);
          out.endGroup();
        }
        out.endField("list", 0);
      }
      out.endGroup();
      out.endField("input_ids", 1);
      out.startField("num_tokens", 2);
      out.addInteger(ids.length);
      out.endField("num_tokens", 2);
      out.endMessage();
    }
  }
}
