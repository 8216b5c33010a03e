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
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) {
            idx[i] = i;
        }
        Arrays.sort(idx, (a, b) -> {
            int c = Integer.compare(lengths[order[from + b]], lengths[order[from + a]]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        List<int[]> bins = new ArrayList<>();
        int[] free = new int[Math.max(1, n)];
        int nb = 0;
        List<List<Integer>> contents = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int item = order[from + idx[i]];
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
                contents.add(new ArrayList<>());
            }
            free[b] -= len;
            contents.get(b).add(item);
        }
        for (List<Integer> c : contents) {
            bins.add(c.stream().mapToInt(Integer::intValue).toArray());
        }
        return bins;
    }
}
