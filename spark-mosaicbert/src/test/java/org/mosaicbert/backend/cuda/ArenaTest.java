package org.mosaicbert.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The arena's bookkeeping: regions given back are reused and merged, and the used end shrinks. */
class ArenaTest {
  private static final long BASE = 1L << 40;

  @Test
  void aRegionGivenBackIsCarvedAgainAndTheEndShrinks() {
    Arena arena = new Arena(BASE, 10_000, "lower the batch");
    long a = arena.carve(1000);
    long b = arena.carve(1000);
    long c = arena.carve(1000);
    assertEquals(BASE, a);
    assertEquals(0, (b - BASE) % Arena.ALIGN);
    arena.release(b, 1000);
    assertEquals(b, arena.carve(500), "the first region given back that fits");
    assertEquals(10_000 - arena.used(), arena.unused(), "what a new region can take: the end after the last one");
    arena.release(c, 1000);
    long used = arena.used();
    assertTrue(used <= c - BASE, "giving back the last region shrinks the used part: " + used);
    assertEquals(10_000 - used, arena.unused());
  }

  @Test
  void neighboursGivenBackMergeIntoOneRegion() {
    Arena arena = new Arena(BASE, 4096, "lower the batch");
    long a = arena.carve(1024);
    long b = arena.carve(1024);
    arena.carve(1024);
    arena.release(a, 1024);
    arena.release(b, 1024);
    assertEquals(a, arena.carve(2048), "two neighbours hold a region of both their sizes");
  }

  @Test
  void aFullArenaSaysWhatToDo() {
    Arena arena = new Arena(BASE, 1024, "lower the batch");
    arena.carve(1000);
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> arena.carve(100));
    assertTrue(e.getMessage().contains("lower the batch"), e.getMessage());
  }
}
