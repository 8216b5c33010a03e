package org.prefixshare.pack;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** First-fit-decreasing bin packing of whole items (documents) into rows of a fixed capacity. */
public final class Packer {

    private Packer() {
    }

    /**
     * Packs the items {@code order[from..to)} (indices into {@code lengths}) by first-fit-decreasing: longest first
     * (ties: earlier in {@code order} first), each into the first row with room, else a new row. Never splits an
     * item. Rows come out in creation order, items in a row in insertion order.
     */
    public static List<int[]> firstFitDecreasing(int[] order, int from, int to, int[] lengths, int capacity) {
        int n = to - from;
        // longest first, ties by position in order: one primitive sort of (MAX_VALUE - length, index) keys
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            keys[i] = ((long) (Integer.MAX_VALUE - lengths[order[from + i]]) << 32) | i;
        }
        Arrays.sort(keys);
        int[] free = new int[Math.max(1, n)];
        int[] binOf = new int[n];
        int[] binSize = new int[Math.max(1, n)];
        int nb = 0;
        for (int i = 0; i < n; i++) {
            int item = order[from + (int) keys[i]];
            int len = lengths[item];
            if (len > capacity) {
                throw new IllegalArgumentException("item " + item + " has " + len + " tokens, more than a row ("
                        + capacity + "); drop it before packing");
            }
            int b = 0;
            while (b < nb && free[b] < len) {
                b++;
            }
            if (b == nb) {
                free[nb++] = capacity;
            }
            free[b] -= len;
            binOf[i] = b;
            binSize[b]++;
        }
        List<int[]> bins = new ArrayList<>(nb);
        int[] fill = new int[nb];
        for (int b = 0; b < nb; b++) {
            bins.add(new int[binSize[b]]);
        }
        for (int i = 0; i < n; i++) {
            int b = binOf[i];
            bins.get(b)[fill[b]++] = order[from + (int) keys[i]];
        }
        return bins;
    }
}
