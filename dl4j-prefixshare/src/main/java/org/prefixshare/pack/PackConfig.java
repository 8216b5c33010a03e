package org.prefixshare.pack;

/**
 * How examples become batches.
 *
 * @param format       prefix-shared or paired rows
 * @param packLength   row length T when packing (a document never exceeds it; longer ones are dropped upstream)
 * @param rowsPerBatch rows per batch
 * @param packing      true: first-fit-decreasing packing of whole documents into rows of packLength; false: one
 *                     document per row (paired: one sequence per row), padded to the batch's longest rounded up to
 *                     a multiple of 64
 * @param windowSize   documents per shuffling / packing window (0 = the whole data set in one window)
 * @param shuffle      shuffle document order (and the packed rows) with the seed, anew each epoch
 * @param seed         the seed; the same seed gives the same batches
 * @param rank         this shard's index in [0, worldSize)
 * @param worldSize    number of shards: batch b goes to shard {@code b % worldSize}
 * @param prefetch     batches built ahead on a background thread (0 = none)
 * @param padId        token id of padding
 */
public record PackConfig(LayoutFormat format, int packLength, int rowsPerBatch, boolean packing, int windowSize,
                         boolean shuffle, long seed, int rank, int worldSize, int prefetch, int padId) {

    /** Rows without packing are padded to a multiple of this. */
    public static final int PAD_MULTIPLE = 64;

    public PackConfig {
        if (format == null) {
            throw new IllegalArgumentException("format is required");
        }
        if (packLength < 1 || rowsPerBatch < 1 || windowSize < 0 || prefetch < 0) {
            throw new IllegalArgumentException("need packLength >= 1, rowsPerBatch >= 1, windowSize >= 0, "
                    + "prefetch >= 0; got packLength=" + packLength + ", rowsPerBatch=" + rowsPerBatch
                    + ", windowSize=" + windowSize + ", prefetch=" + prefetch);
        }
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("need 0 <= rank < worldSize, got rank=" + rank + ", worldSize="
                    + worldSize);
        }
    }

    /** Prefix-shared, packed, shuffled, window 8192, one shard, prefetch 2, pad id 0. */
    public static PackConfig defaults(int packLength, int rowsPerBatch, long seed) {
        return new PackConfig(LayoutFormat.SHARED, packLength, rowsPerBatch, true, 8192, true, seed, 0, 1, 2, 0);
    }

    public PackConfig withFormat(LayoutFormat f) {
        return new PackConfig(f, packLength, rowsPerBatch, packing, windowSize, shuffle, seed, rank, worldSize,
                prefetch, padId);
    }

    public PackConfig withPacking(boolean p) {
        return new PackConfig(format, packLength, rowsPerBatch, p, windowSize, shuffle, seed, rank, worldSize,
                prefetch, padId);
    }

    public PackConfig withShard(int r, int w) {
        return new PackConfig(format, packLength, rowsPerBatch, packing, windowSize, shuffle, seed, r, w,
                prefetch, padId);
    }

    public PackConfig withPrefetch(int p) {
        return new PackConfig(format, packLength, rowsPerBatch, packing, windowSize, shuffle, seed, rank, worldSize,
                p, padId);
    }

    public PackConfig withWindowSize(int w) {
        return new PackConfig(format, packLength, rowsPerBatch, packing, w, shuffle, seed, rank, worldSize,
                prefetch, padId);
    }

    public PackConfig withSeed(long s) {
        return new PackConfig(format, packLength, rowsPerBatch, packing, windowSize, shuffle, s, rank, worldSize,
                prefetch, padId);
    }

    public PackConfig withShuffle(boolean s) {
        return new PackConfig(format, packLength, rowsPerBatch, packing, windowSize, s, seed, rank, worldSize,
                prefetch, padId);
    }

    public PackConfig withPadId(int id) {
        return new PackConfig(format, packLength, rowsPerBatch, packing, windowSize, shuffle, seed, rank, worldSize,
                prefetch, id);
    }
}
