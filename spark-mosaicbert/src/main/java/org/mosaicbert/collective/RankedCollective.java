package org.mosaicbert.collective;

/**
 * A collective that is one rank of a group of fixed size: the rank and world size every implementation that talks to
 * peers holds, checked once here.
 */
abstract class RankedCollective implements Collective {
  protected final int rank;
  protected final int worldSize;

  RankedCollective(int rank, int worldSize) {
    if (worldSize < 1) {
      throw new IllegalArgumentException("a collective needs at least one rank, got a world size of " + worldSize);
    }
    if (rank < 0 || rank >= worldSize) {
      throw new IllegalArgumentException("rank " + rank + " is outside 0.." + (worldSize - 1) + " (world size "
          + worldSize + ")");
    }
    this.rank = rank;
    this.worldSize = worldSize;
  }

  @Override
  public final int rank() {
    return rank;
  }

  @Override
  public final int worldSize() {
    return worldSize;
  }
}
