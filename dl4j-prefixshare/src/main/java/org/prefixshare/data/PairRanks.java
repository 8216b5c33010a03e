package org.prefixshare.data;

/**
 * The merge table of a BPE model: (left id, right id) -> (rank, merged id), as an open-addressing hash table over
 * primitive longs (no boxing on the hot path). Filled once, then read-only (safe to share between threads).
 */
final class PairRanks {

    private static final long EMPTY = -1L;

    private final long[] keys;
    private final long[] values;
    private final int mask;

    /** A table with room for {@code capacity} merges. */
    PairRanks(int capacity) {
        int size = Integer.highestOneBit(Math.max(4, capacity * 2 - 1)) * 2;
        keys = new long[size];
        values = new long[size];
        mask = size - 1;
        java.util.Arrays.fill(keys, EMPTY);
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 29)) & mask;
    }

    /** Adds a merge; a pair listed twice keeps its last entry (as Hugging Face's merge map does). */
    void put(int left, int right, int rank, int merged) {
        long k = key(left, right);
        int i = slot(k);
        while (keys[i] != EMPTY && keys[i] != k) {
            i = (i + 1) & mask;
        }
        keys[i] = k;
        values[i] = ((long) rank << 32) | (merged & 0xFFFFFFFFL);
    }

    /** {@code rank << 32 | mergedId} of the pair, or -1 when the pair does not merge. */
    long get(int left, int right) {
        long k = key(left, right);
        int i = slot(k);
        while (true) {
            long s = keys[i];
            if (s == k) {
                return values[i];
            }
            if (s == EMPTY) {
                return -1L;
            }
            i = (i + 1) & mask;
        }
    }
}
