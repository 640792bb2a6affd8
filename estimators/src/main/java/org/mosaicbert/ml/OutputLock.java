package org.mosaicbert.ml;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A run's hold on the place it writes (a model folder, a checkpoint location, an output file) for the run's whole
 * life, so that no second run, on this machine or on another through shared storage, writes there at the same time.
 *
 * <p>The hold is a lock file beside the path, {@code .NAME.lock}, created only where none exists, in one step of the
 * file system: an exclusive create on the local disk and on shared mounts, HDFS's create without overwrite (object
 * stores such as S3 have no exclusive create before conditional writes, so there two runs started in the same second
 * can both win). The file names its owner (what runs, host, process id, since when) and carries the owner's
 * heartbeat, rewritten every {@link #HEARTBEAT_SECONDS} s by a daemon thread. A run that finds the lock of a live
 * owner is refused at once, naming it. The lock of a dead owner is stale, and the next run takes it over with a
 * warning naming the dead owner, so that the run after a crash still resumes. Stale means either:
 * <ul>
 *   <li>its heartbeat is more than {@link #STALE_AFTER_HEARTBEATS} heartbeats old by this machine's clock (machines
 *   sharing storage must keep their clocks within a few seconds of each other, as NTP does); or
 *   <li>its owner ran on this machine (the same host name and process namespace) and that process is gone: a run
 *   killed here ({@code kill -9}) is taken over at once.
 * </ul>
 *
 * <p>Reentrant in the thread that holds it, as a {@code ReentrantLock} is: the command line holds a checkpoint
 * location around the estimator's fit, which takes the same lock; another thread of the same process is refused like
 * another process. {@link #close} releases a hold; the last one deletes the file. Locks still held when the JVM ends
 * (Ctrl-C) are released by a shutdown hook that runs after Spark has stopped.
 */
public final class OutputLock implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(OutputLock.class);
  /** How often the owner rewrites its heartbeat. */
  public static final long HEARTBEAT_SECONDS = 10;
  /** A lock whose heartbeat is older than this many heartbeats is stale. */
  public static final int STALE_AFTER_HEARTBEATS = 3;
  /** The suffix of a lock file's name ({@code .NAME.lock} beside NAME). */
  static final String SUFFIX = ".lock";

  private static final ObjectMapper JSON = new ObjectMapper();
  /** The locks this process holds, by lock file. */
  private static final Map<Path, OutputLock> HELD = new HashMap<>();

  static {
    // After Spark's own hook (priority 40), which stops the running job, and before the file systems close (10).
    org.apache.hadoop.util.ShutdownHookManager.get().addShutdownHook(OutputLock::releaseAll,
        FileSystem.SHUTDOWN_HOOK_PRIORITY + 20);
  }

  private final String flag;
  private final Path target;
  private final LockFile file;
  private final long heartbeatMillis;
  private final Thread holder;
  private final Thread heartbeat;
  private Owner owner;
  private int holds = 1;
  private volatile boolean released;

  private OutputLock(String flag, Path target, LockFile file, Owner owner, long heartbeatMillis) {
    this.flag = flag;
    this.target = target;
    this.file = file;
    this.owner = owner;
    this.heartbeatMillis = heartbeatMillis;
    this.holder = Thread.currentThread();
    this.heartbeat = new Thread(this::beat, "mosaicbert-lock " + file.path);
    heartbeat.setDaemon(true);
  }

  /**
   * Takes the lock of {@code path} for this run, or fails at once, naming the run that holds it.
   *
   * @param flag how the caller names the path, for messages ("--output", "checkpointDir")
   * @param what what runs, as the lock file records it for a refused run to read ("mosaicbert pretrain")
   */
  public static OutputLock acquire(String path, String flag, String what, Configuration conf) {
    return acquire(path, flag, what, conf, HEARTBEAT_SECONDS * 1000);
  }

  static OutputLock acquire(String path, String flag, String what, Configuration conf, long heartbeatMillis) {
    Path target;
    LockFile file;
    try {
      Path given = new Path(path);
      FileSystem fs = given.getFileSystem(conf);
      target = fs.makeQualified(given);
      if (target.getParent() == null) {
        throw new IllegalArgumentException(flag + " " + path + " is the root of its file system; give a folder in it");
      }
      file = new LockFile(fs, lockFileOf(target));
    } catch (IOException e) {
      throw new IllegalArgumentException(flag + " " + path + ": " + e.getMessage(), e);
    }
    long staleMillis = heartbeatMillis * STALE_AFTER_HEARTBEATS;
    synchronized (HELD) {
      OutputLock held = HELD.get(file.path);
      if (held != null && held.holder == Thread.currentThread()) {
        held.holds++;
        return held;
      }
      if (held != null) {
        throw inUse(flag, path, held.owner, file.path, staleMillis);
      }
    }
    // The file system decides between runs, threads of this process included: one exclusive create wins.
    try {
      Owner me = Owner.now(what);
      // Twice at most: a stale lock taken over, then the create; a third miss means others start right now.
      for (int attempt = 0; attempt < 3; attempt++) {
        if (file.createExclusively(me.json())) {
          OutputLock lock = new OutputLock(flag, target, file, me, heartbeatMillis);
          synchronized (HELD) {
            HELD.put(file.path, lock);
          }
          lock.heartbeat.start();
          return lock;
        }
        byte[] seen = file.read();
        if (seen == null) {
          continue; // released in between
        }
        Owner other = Owner.parse(seen);
        String stale = staleness(other, file.modifiedMillis(), staleMillis);
        if (stale == null) {
          throw inUse(flag, path, other, file.path, staleMillis);
        }
        if (file.takeOver(seen)) {
          LOG.warn("{} {}: taking over the lock of a run that is gone ({}): {}", flag, path,
              other == null ? "its lock file was unreadable" : other.describe(), stale);
        }
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot write in " + target.getParent() + " (the lock " + file.path
          + " of " + flag + " " + path + "): " + e.getMessage() + "; choose a writable place", e);
    }
    throw new IllegalStateException("cannot lock " + flag + " " + path + ": other runs are taking " + file.path
        + " at the same moment; run again once they have started");
  }

  /** The lock file of {@code target}: {@code .NAME.lock} beside it. */
  static Path lockFileOf(Path target) {
    return sibling(target, "." + target.getName() + SUFFIX);
  }

  /**
   * The path named {@code name} beside {@code target}, built from its URI: any character of the name stays part of
   * it (Hadoop reads a colon in a child path's name as a URI scheme).
   */
  static Path sibling(Path target, String name) {
    java.net.URI parent = target.getParent().toUri();
    String folder = parent.getPath().endsWith("/") ? parent.getPath() : parent.getPath() + "/";
    try {
      return new Path(new java.net.URI(parent.getScheme(), parent.getAuthority(), folder + name, null, null));
    } catch (java.net.URISyntaxException e) {
      throw new IllegalArgumentException("no path " + name + " beside " + target + ": " + e.getMessage(), e);
    }
  }

  /**
   * Removes what an earlier run of this path left when it was killed: its temporary siblings and staging folders
   * ({@link Leftovers}). Only the holder may: no live run owns them.
   */
  public void removeLeftovers() {
    Leftovers.removeBeside(file.fs, target);
  }

  /**
   * Deletes the path this lock holds, and all it holds: for a run that starts over where an earlier one wrote. The
   * path is first renamed to a temporary sibling ({@code .NAME.tmp-*}), so that a run killed while deleting leaves
   * NAME whole or gone, never half deleted, and the next holder removes the rest ({@link #removeLeftovers}). Only
   * the holder may: no other run reads or writes there meanwhile.
   *
   * @return whether there was something to delete
   */
  public boolean deleteTarget() throws IOException {
    synchronized (HELD) {
      if (released || HELD.get(file.path) != this || holder != Thread.currentThread()) {
        throw new IllegalStateException("deleting " + target + " needs its lock, held by this thread");
      }
    }
    if (!file.fs.exists(target)) {
      return false;
    }
    Path doomed = sibling(target, Leftovers.temporaryName(target));
    if (!file.fs.rename(target, doomed)) {
      throw new IOException("cannot rename " + target + " to " + doomed + " (to delete it)");
    }
    file.fs.delete(doomed, true);
    return true;
  }

  /** Releases one hold; the last deletes the lock file (unless another run has taken it over meanwhile). */
  @Override
  public void close() {
    synchronized (HELD) {
      if (released || --holds > 0) {
        return;
      }
      HELD.remove(file.path);
    }
    release();
  }

  /** Releases every lock this process holds: the JVM is ending. */
  static void releaseAll() {
    List<OutputLock> all;
    synchronized (HELD) {
      all = new ArrayList<>(HELD.values());
      HELD.clear();
    }
    all.forEach(OutputLock::release);
  }

  private synchronized void release() {
    released = true;
    heartbeat.interrupt();
    try {
      if (ours(file.read())) {
        file.delete();
      }
    } catch (IOException | RuntimeException e) {
      LOG.warn("could not remove the lock {}: {}; the next run takes it over once it is stale", file.path,
          e.toString());
    }
  }

  private boolean ours(byte[] record) {
    Owner seen = record == null ? null : Owner.parse(record);
    return seen != null && seen.token().equals(owner.token());
  }

  /** The heartbeat: rewrites the lock with the time now, while it is still this run's. */
  private void beat() {
    while (true) {
      try {
        Thread.sleep(heartbeatMillis);
      } catch (InterruptedException e) {
        return;
      }
      synchronized (this) {
        if (released) {
          return;
        }
        try {
          byte[] record = file.read();
          if (!ours(record)) {
            Owner other = record == null ? null : Owner.parse(record);
            LOG.error("{} {}: this run lost its lock {} ({}): another run judged it dead and may write there too; "
                + "a heartbeat older than {} s makes a lock stale, so keep this process from stalling that long",
                flag, target, file.path, other == null ? "the file is gone" : "now " + other.describe(),
                heartbeatMillis * STALE_AFTER_HEARTBEATS / 1000);
            return;
          }
          owner = owner.beating();
          file.rewrite(owner.json());
        } catch (IOException | RuntimeException e) {
          LOG.warn("could not renew the lock {}: {}", file.path, e.toString());
        }
      }
    }
  }

  /**
   * Why the lock of {@code owner} (null: an unreadable lock file, last written at {@code modifiedMillis}) is stale,
   * or null when its owner may still run.
   */
  static String staleness(Owner owner, long modifiedMillis, long staleMillis) {
    long now = System.currentTimeMillis();
    if (owner == null) {
      // A lock being written right now reads empty for a moment, so only an old one is stale.
      return now - modifiedMillis > staleMillis ? "its lock file is unreadable and " + seconds(now - modifiedMillis)
          + " s old" : null;
    }
    if (owner.onThisMachine() && !owner.processAlive()) {
      return "process " + owner.pid() + " on " + owner.host() + " is gone";
    }
    long age = now - owner.heartbeat().toEpochMilli();
    return age > staleMillis ? "its last heartbeat is " + seconds(age) + " s old (stale after " + seconds(staleMillis)
        + " s)" : null;
  }

  private static IllegalArgumentException inUse(String flag, String path, Owner owner, Path lockFile,
      long staleMillis) {
    String who = owner == null ? "a run that is taking it right now (its lock file is being written)"
        : owner.describe() + ", last heartbeat " + seconds(System.currentTimeMillis()
            - owner.heartbeat().toEpochMilli()) + " s ago";
    String afterDeath = owner == null ? "" : " (at once on " + owner.host() + " when process " + owner.pid()
        + " is gone)";
    return new IllegalArgumentException(flag + " " + path + " is in use by " + who + "; wait for that run to end or "
        + "stop it, or give another " + flag + ". A run that dies leaves its lock " + lockFile + " behind; the next "
        + "run takes it over once it is stale, " + seconds(staleMillis) + " s after its last heartbeat" + afterDeath);
  }

  private static long seconds(long millis) {
    return Math.max(0, Math.round(millis / 1000.0));
  }

  /**
   * Who holds a lock, as its file records it.
   *
   * @param what what runs ("mosaicbert pretrain")
   * @param processStarted when the owner's process started (null where unknown): a process id reused later is not it
   * @param namespace the owner's process namespace ("pid:[4026531836]" on Linux, empty elsewhere): containers that
   *     share a host name do not see each other's processes
   * @param token this hold's own id: a lock taken over and taken again is another hold
   */
  record Owner(String what, String host, long pid, Instant processStarted, String namespace, Instant since,
      Instant heartbeat, String token) {
    private static final String HOST = hostName();
    private static final String NAMESPACE = processNamespace();

    static Owner now(String what) {
      ProcessHandle self = ProcessHandle.current();
      Instant now = Instant.now();
      return new Owner(what, HOST, self.pid(), self.info().startInstant().orElse(null), NAMESPACE, now, now,
          UUID.randomUUID().toString());
    }

    Owner beating() {
      return new Owner(what, host, pid, processStarted, namespace, since, Instant.now(), token);
    }

    boolean onThisMachine() {
      return host.equals(HOST) && namespace.equals(NAMESPACE);
    }

    /** Whether the owner's process (on this machine) still runs. */
    boolean processAlive() {
      return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
          .map(p -> processStarted == null || p.info().startInstant().map(processStarted::equals).orElse(true))
          .orElse(false);
    }

    String describe() {
      return what + " on " + host + " (pid " + pid + "), running since " + since.truncatedTo(ChronoUnit.SECONDS);
    }

    byte[] json() {
      ObjectNode json = JSON.createObjectNode();
      json.put("what", what);
      json.put("host", host);
      json.put("pid", pid);
      json.put("process_started", processStarted == null ? null : processStarted.toString());
      json.put("namespace", namespace);
      json.put("since", since.toString());
      json.put("heartbeat", heartbeat.toString());
      json.put("token", token);
      return (json + "\n").getBytes(StandardCharsets.UTF_8);
    }

    /** The owner a lock file names; null when it names none (a file being written, or damaged). */
    static Owner parse(byte[] record) {
      try {
        JsonNode json = JSON.readTree(record);
        if (json == null || !json.hasNonNull("token") || !json.hasNonNull("heartbeat")) {
          return null;
        }
        return new Owner(json.path("what").asText("a run"), json.path("host").asText("?"), json.path("pid").asLong(),
            json.hasNonNull("process_started") ? Instant.parse(json.get("process_started").asText()) : null,
            json.path("namespace").asText(""), Instant.parse(json.path("since").asText()),
            Instant.parse(json.get("heartbeat").asText()), json.get("token").asText());
      } catch (IOException | RuntimeException e) {
        return null;
      }
    }

    private static String hostName() {
      try {
        return InetAddress.getLocalHost().getHostName();
      } catch (IOException e) {
        return Objects.requireNonNullElse(System.getenv("HOSTNAME"), "localhost");
      }
    }

    private static String processNamespace() {
      try {
        return Files.readSymbolicLink(Paths.get("/proc/self/ns/pid")).toString();
      } catch (IOException | UnsupportedOperationException e) {
        return "";
      }
    }
  }

  /**
   * The lock file's operations, each one step of the file system. On the local disk through java.nio: Hadoop's local
   * file system creates without O_EXCL (and adds .crc files); elsewhere through Hadoop.
   */
  private static final class LockFile {
    final FileSystem fs;
    final Path path;
    /** The file on the local disk; null on any other file system. */
    final java.nio.file.Path local;

    LockFile(FileSystem fs, Path path) {
      boolean onLocalDisk = "file".equals(fs.getUri().getScheme());
      this.fs = fs instanceof LocalFileSystem checksummed ? checksummed.getRaw() : fs;
      this.path = path;
      this.local = onLocalDisk ? Paths.get(path.toUri()) : null;
    }

    /** Creates the file holding {@code record}; false when it exists. */
    boolean createExclusively(byte[] record) throws IOException {
      if (local != null) {
        Files.createDirectories(local.getParent());
        try (OutputStream out = Files.newOutputStream(local, StandardOpenOption.CREATE_NEW,
            StandardOpenOption.WRITE)) {
          out.write(record);
        } catch (FileAlreadyExistsException e) {
          return false;
        }
        return true;
      }
      try (OutputStream out = fs.create(path, false)) {
        out.write(record);
      } catch (IOException e) {
        if (fs.exists(path)) {
          return false;
        }
        throw e;
      }
      return true;
    }

    /** The file's bytes; null when there is no file. */
    byte[] read() throws IOException {
      try {
        if (local != null) {
          return Files.readAllBytes(local);
        }
        try (InputStream in = fs.open(path)) {
          return in.readAllBytes();
        }
      } catch (NoSuchFileException | java.io.FileNotFoundException e) {
        return null;
      }
    }

    long modifiedMillis() throws IOException {
      try {
        return local != null ? Files.getLastModifiedTime(local).toMillis()
            : fs.getFileStatus(path).getModificationTime();
      } catch (NoSuchFileException | java.io.FileNotFoundException e) {
        return System.currentTimeMillis();
      }
    }

    /** Replaces the file's content with {@code record} in one step (no reader sees it half-written). */
    void rewrite(byte[] record) throws IOException {
      if (local == null) {
        try (OutputStream out = fs.create(path, true)) {
          out.write(record);
        }
        return;
      }
      java.nio.file.Path tmp = local.resolveSibling(local.getFileName() + ".beat-" + UUID.randomUUID());
      try {
        Files.write(tmp, record);
        Files.move(tmp, local, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } finally {
        Files.deleteIfExists(tmp);
      }
    }

    void delete() throws IOException {
      if (local != null) {
        Files.deleteIfExists(local);
      } else {
        fs.delete(path, false);
      }
    }

    /**
     * Moves a stale lock that read {@code seen} out of the way. Two runs may both find it stale: only one move
     * succeeds, and a run whose move caught the lock the other has just taken puts it back. True when the stale lock
     * is gone.
     */
    boolean takeOver(byte[] seen) throws IOException {
      Path moved = sibling(path, path.getName() + ".stale-" + UUID.randomUUID());
      boolean renamed;
      if (local != null) {
        try {
          Files.move(local, Paths.get(moved.toUri()), StandardCopyOption.ATOMIC_MOVE);
          renamed = true;
        } catch (NoSuchFileException e) {
          renamed = false;
        }
      } else {
        renamed = fs.rename(path, moved);
      }
      if (!renamed) {
        return false;
      }
      LockFile movedFile = new LockFile(fs, moved);
      byte[] caught = movedFile.read();
      if (caught != null && !java.util.Arrays.equals(caught, seen)) {
        createExclusively(caught); // another run's fresh lock: back where it was, unless a third run took the place
        movedFile.delete();
        return false;
      }
      movedFile.delete();
      return true;
    }
  }
}
