package org.prefixshare.loss;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Which scored sequences form the preference pairs of a batch: pair {@code i} compares sequence {@code chosen[i]}
 * (rank 0 of its example) with sequence {@code rejected[i]} (a lower-ranked response of the same example).
 *
 * <p>Use it to gather per-sequence vectors {@code [S]} (log-probs, reference log-probs, token counts) into pair
 * vectors {@code [P]}: {@link PairLogps#gather} does that with a differentiable one-hot selection (not
 * {@code sd.gather}, whose backward is wrong in ND4J 1.0.0-M2.1, see there).
 *
 * @param chosen       sequence index of the chosen response of each pair
 * @param rejected     sequence index of the rejected response of each pair
 * @param numSequences number of scored sequences S of the batch; every index lies in [0, S)
 */
public record PairIndex(int[] chosen, int[] rejected, int numSequences) {

    /** Checks both arrays are present, equally long, non-empty and inside [0, numSequences). */
    public PairIndex {
        if (chosen == null || rejected == null) {
            throw new IllegalArgumentException("PairIndex needs both chosen and rejected index arrays");
        }
        if (chosen.length != rejected.length) {
            throw new IllegalArgumentException("PairIndex: " + chosen.length + " chosen but " + rejected.length
                    + " rejected indices");
        }
        if (chosen.length == 0) {
            throw new IllegalArgumentException("PairIndex: a batch needs at least one preference pair");
        }
        for (int i = 0; i < chosen.length; i++) {
            if (chosen[i] < 0 || chosen[i] >= numSequences || rejected[i] < 0 || rejected[i] >= numSequences) {
                throw new IllegalArgumentException("PairIndex: pair " + i + " (" + chosen[i] + ", " + rejected[i]
                        + ") lies outside the " + numSequences + " sequences");
            }
        }
        chosen = chosen.clone();
        rejected = rejected.clone();
    }

    /** Number of pairs P. */
    public int size() {
        return chosen.length;
    }

    @Override
    public int[] chosen() {
        return chosen.clone();
    }

    @Override
    public int[] rejected() {
        return rejected.clone();
    }

    /**
     * Builds the pairs of a sequence table: for an example with N >= 2 ranked responses the pairs are
     * (rank 0, rank r) for r = 1..N-1. Pairs are ordered by the example's first appearance in the table, then by r;
     * with the usual 2 responses per example this is one pair per example, in table order.
     *
     * @param exampleId example of each scored sequence {@code [S]}
     * @param rank      rank of each sequence within its example: 0 is the chosen (best) response
     * @throws IllegalArgumentException when the arrays differ in length, a rank is negative or repeated within an
     *                                  example, the ranks of an example are not 0..N-1, or an example has fewer than
     *                                  two responses
     */
    public static PairIndex fromSequenceTable(int[] exampleId, int[] rank) {
        if (exampleId == null || rank == null) {
            throw new IllegalArgumentException("fromSequenceTable needs exampleId and rank arrays");
        }
        if (exampleId.length != rank.length) {
            throw new IllegalArgumentException("sequence table: exampleId has " + exampleId.length
                    + " entries but rank has " + rank.length);
        }
        Map<Integer, List<Integer>> byExample = new LinkedHashMap<>();
        for (int s = 0; s < exampleId.length; s++) {
            if (rank[s] < 0) {
                throw new IllegalArgumentException("sequence " + s + " (example " + exampleId[s] + ") has negative rank "
                        + rank[s]);
            }
            byExample.computeIfAbsent(exampleId[s], k -> new ArrayList<>()).add(s);
        }
        List<int[]> pairs = new ArrayList<>();
        for (Map.Entry<Integer, List<Integer>> e : byExample.entrySet()) {
            List<Integer> seqs = e.getValue();
            int n = seqs.size();
            if (n < 2) {
                throw new IllegalArgumentException("example " + e.getKey() + " has " + n
                        + " response; a preference pair needs at least 2 (ranks 0 and 1)");
            }
            int[] seqOfRank = new int[n];
            Arrays.fill(seqOfRank, -1);
            for (int s : seqs) {
                int r = rank[s];
                if (r >= n) {
                    throw new IllegalArgumentException("example " + e.getKey() + " has " + n + " responses but sequence "
                            + s + " has rank " + r + "; ranks must be 0.." + (n - 1));
                }
                if (seqOfRank[r] >= 0) {
                    throw new IllegalArgumentException("example " + e.getKey() + ": rank " + r
                            + " appears twice (sequences " + seqOfRank[r] + " and " + s + ")");
                }
                seqOfRank[r] = s;
            }
            for (int r = 1; r < n; r++) {
                pairs.add(new int[] {seqOfRank[0], seqOfRank[r]});
            }
        }
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("sequence table is empty: no preference pairs");
        }
        int[] c = new int[pairs.size()];
        int[] r = new int[pairs.size()];
        for (int i = 0; i < pairs.size(); i++) {
            c[i] = pairs.get(i)[0];
            r[i] = pairs.get(i)[1];
        }
        return new PairIndex(c, r, exampleId.length);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PairIndex p && numSequences == p.numSequences && Arrays.equals(chosen, p.chosen)
                && Arrays.equals(rejected, p.rejected);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(chosen) + Arrays.hashCode(rejected)) + numSequences;
    }

    @Override
    public String toString() {
        return "PairIndex[chosen=" + Arrays.toString(chosen) + ", rejected=" + Arrays.toString(rejected)
                + ", numSequences=" + numSequences + "]";
    }
}
