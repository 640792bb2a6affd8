package org.mosaicbert.testing;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;

/**
 * The local disk under the scheme {@code fulldisk:}, where every file stops taking bytes after {@link #CAPACITY}:
 * a full disk, for tests of what a failed write leaves behind. Register it with {@code fs.fulldisk.impl}.
 */
public final class FullDiskFileSystem extends RawLocalFileSystem {
  public static final long CAPACITY = 16 * 1024;

  @Override
  public URI getUri() {
    return URI.create("fulldisk:///");
  }

  @Override
  public String getScheme() {
    return "fulldisk";
  }

  @Override
  public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite, int bufferSize,
      short replication, long blockSize, Progressable progress) throws IOException {
    return full(super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress));
  }

  @Override
  public FSDataOutputStream create(Path f, boolean overwrite, int bufferSize, short replication, long blockSize,
      Progressable progress) throws IOException {
    return full(super.create(f, overwrite, bufferSize, replication, blockSize, progress));
  }

  private FSDataOutputStream full(OutputStream out) throws IOException {
    return new FSDataOutputStream(new FilterOutputStream(out) {
      private long written;

      @Override
      public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        if (written + len > CAPACITY) {
          throw new IOException("No space left on device");
        }
        written += len;
        out.write(b, off, len);
      }
    }, statistics);
  }
}
