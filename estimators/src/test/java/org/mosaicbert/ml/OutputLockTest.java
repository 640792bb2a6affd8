package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The lock a run holds on its output: exclusive, named, kept alive by its heartbeat, taken over once stale, and the
 * cleanup of what a killed run of the output left, which only its holder does.
 */
class OutputLockTest {
  @TempDir Path tmp;
  private final Configuration conf = new Configuration();

  /** A lock file as another run would have written it. */
  static void plantLock(Path output, String host, long pid, Instant heartbeat) throws IOException {
    Files.createDirectories(output.getParent());
    Files.writeString(output.resolveSibling("." + output.getFileName() + ".lock"), "{\"what\":\"mosaicbert pretrain\","
        + "\"host\":\"" + host + "\",\"pid\":" + pid + ",\"process_started\":null,\"namespace\":\"\","
        + "\"since\":\"" + heartbeat.minusSeconds(600) + "\",\"heartbeat\":\"" + heartbeat + "\","
        + "\"token\":\"planted\"}\n", StandardCharsets.UTF_8);
  }

  private static Path lockOf(Path output) {
    return output.resolveSibling("." + output.getFileName() + ".lock");
  }

  /** {@code p} as the Hadoop path a writer of it sees. */
  private org.apache.hadoop.fs.Path qualified(Path p) throws IOException {
    return org.apache.hadoop.fs.FileSystem.getLocal(conf).makeQualified(new org.apache.hadoop.fs.Path(p.toString()));
  }

  /** Runs {@code action} on another thread (a lock is reentrant in its own thread) and returns what it threw. */
  private static Throwable thrownElsewhere(Runnable action) throws Exception {
    return CompletableFuture.supplyAsync(() -> {
      try {
        action.run();
        return null;
      } catch (Throwable t) {
        return t;
      }
    }).get();
  }

  /** A run that starts over deletes what it holds, whole, and nothing beside it; another thread may not. */
  @Test
  void onlyTheHolderDeletesItsTargetAndNothingElse() throws Exception {
    Path output = tmp.resolve("model");
    Files.createDirectories(output.resolve("metadata"));
    Files.writeString(output.resolve("metadata").resolve("part-0"), "weights");
    Path neighbour = Files.createDirectories(tmp.resolve("model.shards"));
    try (OutputLock lock = OutputLock.acquire(output.toString(), "--output", "mosaicbert pretrain", conf)) {
      Throwable elsewhere = thrownElsewhere(() -> {
        try {
          lock.deleteTarget();
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      });
      assertTrue(elsewhere instanceof IllegalStateException, String.valueOf(elsewhere));
      assertTrue(Files.exists(output.resolve("metadata").resolve("part-0")));
      assertTrue(lock.deleteTarget());
      assertFalse(Files.exists(output));
      assertFalse(lock.deleteTarget(), "nothing left to delete");
    }
    try (Stream<Path> left = Files.list(tmp)) {
      assertEquals(List.of(neighbour), left.toList(), "no temporary sibling, no lock, the neighbour untouched");
    }
  }

  @Test
  void aSecondHolderIsRefusedAtOnceNamingTheFirstUntilItReleases() throws Exception {
    Path output = tmp.resolve("out dir").resolve("model");
    OutputLock lock = OutputLock.acquire(output.toString(), "--output", "mosaicbert pretrain", conf);
    assertTrue(Files.exists(lockOf(output)), "the lock file lies beside the output");
    String record = Files.readString(lockOf(output));
    assertTrue(record.contains("\"pid\":" + ProcessHandle.current().pid()) && record.contains("\"heartbeat\""),
        record);
    long start = System.nanoTime();
    Throwable refused = thrownElsewhere(() -> OutputLock.acquire(output.toString(), "--output", "mosaicbert predict",
        conf));
    assertTrue((System.nanoTime() - start) / 1e9 < 5, "refused at once");
    assertTrue(refused instanceof IllegalArgumentException, String.valueOf(refused));
    String message = refused.getMessage();
    assertTrue(message.startsWith("--output " + output + " is in use by mosaicbert pretrain on "
        + OutputLock.Owner.now("x").host() + " (pid " + ProcessHandle.current().pid() + "), running since "), message);
    assertTrue(message.contains("last heartbeat 0 s ago") && message.contains("give another --output")
        && message.contains("30 s after its last heartbeat"), message);

    assertSame(lock, OutputLock.acquire(output.toString(), "--output", "again", conf), "reentrant in its thread");
    lock.close();
    assertTrue(Files.exists(lockOf(output)), "one hold is left");
    lock.close();
    assertFalse(Files.exists(lockOf(output)), "the last release deletes the lock file");
    assertEquals(null, thrownElsewhere(() -> OutputLock.acquire(output.toString(), "--output", "next", conf)
        .close()));
  }

  @Test
  void aLiveRunOnAnotherMachineIsRefusedAndADeadOneIsTakenOver() throws Exception {
    Path output = tmp.resolve("model");
    plantLock(output, "other-machine", 4242, Instant.now().minusSeconds(5));
    String refused = assertThrows(IllegalArgumentException.class,
        () -> OutputLock.acquire(output.toString(), "--output", "mosaicbert pretrain", conf)).getMessage();
    assertTrue(refused.contains("in use by mosaicbert pretrain on other-machine (pid 4242)")
        && refused.contains("last heartbeat 5 s ago"), refused);

    // 31 s without a heartbeat: stale (3 heartbeats of 10 s), whatever machine it ran on.
    plantLock(output, "other-machine", 4242, Instant.now().minusSeconds(31));
    try (OutputLock lock = OutputLock.acquire(output.toString(), "--output", "mosaicbert pretrain", conf)) {
      assertTrue(Files.readString(lockOf(output)).contains("\"pid\":" + ProcessHandle.current().pid()),
          "this run's now");
    }
    assertFalse(Files.exists(lockOf(output)));
  }

  /** A run killed here (kill -9) left its lock with a fresh heartbeat: its process is gone, so it is stale at once. */
  @Test
  void aLockOfADeadProcessOnThisMachineIsTakenOverAtOnce() throws Exception {
    Process gone = new ProcessBuilder("true").start();
    gone.waitFor();
    OutputLock.Owner here = OutputLock.Owner.now("x");
    Path output = tmp.resolve("model");
    Files.writeString(lockOf(output), new String(new OutputLock.Owner("mosaicbert pretrain", here.host(),
        gone.pid(), null, here.namespace(), Instant.now(), Instant.now(), "planted").json(), StandardCharsets.UTF_8));
    OutputLock.acquire(output.toString(), "--output", "mosaicbert pretrain", conf).close();
    assertFalse(Files.exists(lockOf(output)));
  }

  @Test
  void aPlaceWhereNoLockCanBeWrittenIsNamed() throws Exception {
    Path file = Files.writeString(tmp.resolve("a file"), "x");
    String refused = assertThrows(IllegalArgumentException.class, () -> OutputLock.acquire(
        file.resolve("model").toString(), "--output", "mosaicbert pretrain", conf)).getMessage();
    assertTrue(refused.startsWith("cannot write in file:" + file + " (the lock ") && refused.contains(
        "of --output " + file.resolve("model")) && refused.endsWith("; choose a writable place"), refused);
  }

  @Test
  void anUnreadableLockFileIsALockBeingWrittenUntilItIsOld() throws Exception {
    Path output = tmp.resolve("model");
    Files.writeString(lockOf(output), "");
    String refused = assertThrows(IllegalArgumentException.class,
        () -> OutputLock.acquire(output.toString(), "--output", "mosaicbert pretrain", conf)).getMessage();
    assertTrue(refused.contains("a run that is taking it right now"), refused);
    Files.setLastModifiedTime(lockOf(output), java.nio.file.attribute.FileTime.from(Instant.now().minusSeconds(60)));
    OutputLock.acquire(output.toString(), "--output", "mosaicbert pretrain", conf).close();
  }

  @Test
  void theHeartbeatRenewsTheLockWhileItIsThisRunsAndStopsOnceAnotherRunTookItOver() throws Exception {
    Path output = tmp.resolve("model");
    try (OutputLock lock = OutputLock.acquire(output.toString(), "--output", "fit", conf, 50)) {
      OutputLock.Owner first = OutputLock.Owner.parse(Files.readAllBytes(lockOf(output)));
      Thread.sleep(300);
      OutputLock.Owner later = OutputLock.Owner.parse(Files.readAllBytes(lockOf(output)));
      assertTrue(later.heartbeat().isAfter(first.heartbeat()), first + " then " + later);
      assertEquals(first.token(), later.token());
      assertEquals(first.since(), later.since());
      // Another run judged this one dead and took the lock: the heartbeat leaves it theirs, and so does close.
      plantLock(output, "other-machine", 7, Instant.now());
      Thread.sleep(300);
      assertTrue(Files.readString(lockOf(output)).contains("other-machine"));
    }
    assertTrue(Files.readString(lockOf(output)).contains("other-machine"), "not this run's to delete");
  }

  /** Runs racing for one output: exactly one wins each time, whatever the interleaving. */
  @Test
  void ofRunsRacingForOneOutputExactlyOneWins() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      for (int round = 0; round < 20; round++) {
        Path output = tmp.resolve("race-" + round);
        CyclicBarrier start = new CyclicBarrier(4);
        List<Future<OutputLock>> tries = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
          tries.add(pool.submit(() -> {
            start.await();
            try {
              return OutputLock.acquire(output.toString(), "--output", "racer", conf);
            } catch (IllegalArgumentException refused) {
              return null;
            }
          }));
        }
        List<OutputLock> won = new ArrayList<>();
        for (Future<OutputLock> t : tries) {
          if (t.get() != null) {
            won.add(t.get());
          }
        }
        assertEquals(1, won.size(), "round " + round);
        pool.submit(() -> won.get(0).close()).get(); // released by the thread that holds it
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * What a killed run left of an output, beside it and in the temporary folder, goes once the output is claimed; what
   * belongs to other outputs stays.
   */
  @Test
  void theHolderRemovesWhatAKilledRunOfItsOutputLeftAndNothingElse() throws Exception {
    Path parent = Files.createDirectories(tmp.resolve("runs"));
    Path output = parent.resolve("model");
    List<Path> leftovers = List.of(parent.resolve(".model.tmp-0b8c6f0e-1d7b-4d7e-9a31-5e8f2b1c9d40"),
        parent.resolve(".model.probe-5e8f2b1c"), parent.resolve("..model.tmp-123.tmp-456"),
        parent.resolve(".model.lock.beat-1"));
    List<Path> others = List.of(parent.resolve(".model2.tmp-1"), parent.resolve("..model.tmp-789"),
        parent.resolve(".other.tmp-1"), parent.resolve("model.checkpoints"));
    for (Path p : Stream.concat(leftovers.stream(), others.stream()).toList()) {
      Files.createDirectories(p);
      Files.writeString(p.resolve("model.safetensors"), "half written");
    }
    String prefix = Leftovers.stagingPrefix(qualified(output));
    assertEquals(prefix, Leftovers.stagingPrefix(qualified(leftovers.get(0))), "a save into a temporary sibling "
        + "stages under the output's name");
    assertNotEquals(prefix, Leftovers.stagingPrefix(qualified(parent.resolve("model2"))));
    Path staging = Files.createTempDirectory(prefix);
    Files.writeString(staging.resolve("model.safetensors"), "a staged copy");
    Path otherStaging = Files.createTempDirectory(Leftovers.stagingPrefix(qualified(parent.resolve("model2"))));
    try {
      try (OutputLock lock = OutputLock.acquire(output.toString(), "--output", "mosaicbert pretrain", conf)) {
        lock.removeLeftovers();
      }
      for (Path p : leftovers) {
        assertFalse(Files.exists(p), p + " is left");
      }
      assertFalse(Files.exists(staging), "the staging copy is left");
      for (Path p : others) {
        assertTrue(Files.exists(p.resolve("model.safetensors")), p + " belongs to something else");
      }
      assertTrue(Files.exists(otherStaging));
    } finally {
      Files.deleteIfExists(otherStaging);
    }
  }
}
