package org.prefixshare.layout;

import org.prefixshare.ops.attention.AncestorMask;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Decodes scored sequences back out of rows using only the row arrays and the ancestor rule, whatever the format:
 * for sequence s with last scored token q, the sequence is the tokens visible to q (in order) followed by
 * {@code label[q]}. Checks on the way that the visible positions count 0, 1, 2, ... and that every label of s is the
 * next token of the decoded sequence. Decoding the prefix-shared rows and the paired rows of the same examples must
 * give identical sequences: that is the round-trip check of {@code data stats} and of the property tests.
 */
public final class LayoutDecoder {

    private LayoutDecoder() {
    }

    /** Key of a scored sequence. */
    public record SeqKey(long exampleId, int rank) {

        @Override
        public boolean equals(Object o) {
            return o instanceof SeqKey k && k.exampleId == exampleId && k.rank == rank;
        }

        @Override
        public int hashCode() {
            return Long.hashCode(exampleId) * 31 + rank;
        }
    }

    /**
     * A decoded sequence.
     *
     * @param tokens          the full sequence (prompt ++ response)
     * @param scoredPositions positions whose next token is scored, ascending
     * @param tokenCount      the token count the sequence table claims
     */
    public record Decoded(int[] tokens, int[] scoredPositions, int tokenCount) {

        @Override
        public boolean equals(Object o) {
            return o instanceof Decoded d && Arrays.equals(d.tokens, tokens)
                    && Arrays.equals(d.scoredPositions, scoredPositions) && d.tokenCount == tokenCount;
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(tokens) * 31 + tokenCount;
        }

        @Override
        public String toString() {
            return "Decoded{tokens=" + Arrays.toString(tokens) + ", scored=" + Arrays.toString(scoredPositions)
                    + ", tokenCount=" + tokenCount + "}";
        }
    }

    /**
     * Decodes every sequence of the batch into {@code out}; returns the problems found (empty when consistent).
     */
    public static List<String> decode(LayoutBatch batch, Map<SeqKey, Decoded> out) {
        List<String> problems = new ArrayList<>();
        int nSeq = batch.sequences().size();
        boolean[] seen = new boolean[nSeq];
        int[] last = new int[nSeq];
        int[] count = new int[nSeq];
        for (int ri = 0; ri < batch.rows().size(); ri++) {
            RowLayout row = batch.rows().get(ri);
            int[][] arrays = row.arraysUnsafe();
            int[] seq = arrays[5];
            int[] label = arrays[4];
            Arrays.fill(last, -1);
            Arrays.fill(count, 0);
            for (int q = 0; q < seq.length; q++) {
                int s = seq[q];
                if (s >= 0) {
                    if (s >= nSeq) {
                        problems.add("row " + ri + " t=" + q + ": seq " + s + " outside the table of " + nSeq);
                        continue;
                    }
                    last[s] = q;
                    count[s]++;
                    if (label[q] < 0) {
                        problems.add("row " + ri + " t=" + q + ": seq " + s + " but no label");
                    }
                } else if (label[q] >= 0) {
                    problems.add("row " + ri + " t=" + q + ": label " + label[q] + " without a seq");
                }
            }
            Runs runs = null;
            for (int s = 0; s < nSeq; s++) {
                if (last[s] < 0) {
                    continue;
                }
                if (seen[s]) {
                    problems.add("seq " + s + " appears in more than one row");
                }
                seen[s] = true;
                if (runs == null) {
                    runs = new Runs(arrays);
                }
                SequenceInfo info = batch.sequences().get(s);
                Decoded d = runs.decodeSequence(ri, s, last[s], count[s], info.tokenCount(), problems);
                if (info.tokenCount() != count[s]) {
                    problems.add("seq " + s + ": table says " + info.tokenCount() + " tokens, row has " + count[s]);
                }
                Decoded prev = out.put(new SeqKey(info.exampleId(), info.rank()), d);
                if (prev != null) {
                    problems.add("example " + info.exampleId() + " rank " + info.rank() + " decoded twice");
                }
            }
        }
        for (int s = 0; s < nSeq; s++) {
            if (!seen[s]) {
                problems.add("seq " + s + " " + batch.sequences().get(s) + " has no scored token in any row");
            }
        }
        return problems;
    }

    /**
     * A row cut into runs of consecutive tokens with the same (node, subtreeEnd). Under the ancestor rule a key's
     * visibility to a query depends on the key only through k <= q and its (node, subtreeEnd), so a whole run is
     * visible or not: decoding a sequence walks runs, not tokens, and looks inside an invisible run only when the run
     * holds labels of that sequence (to report them); a visible run without labels of the sequence whose positions
     * continue it is copied whole. Same results and problems, in the same order, as checking
     * {@link RowLayout#visible} for every key.
     */
    private static final class Runs {
        final int[] token;
        final int[] position;
        final int[] label;
        final int[] seq;
        final int[] start;
        final int[] seqMin;
        final int[] seqMax;
        final boolean[] consecutive;
        final int[] rowNode;
        final int[] rowSubtreeEnd;
        final int n;

        /** @param row the row's arrays (read only), as {@link RowLayout#arraysUnsafe} gives them */
        Runs(int[][] row) {
            token = row[0];
            position = row[1];
            rowNode = row[2];
            rowSubtreeEnd = row[3];
            label = row[4];
            seq = row[5];
            int t = token.length;
            int[] st = new int[t + 1];
            int k = 0;
            for (int i = 0; i < t; i++) {
                if (i == 0 || rowNode[i] != rowNode[i - 1] || rowSubtreeEnd[i] != rowSubtreeEnd[i - 1]) {
                    st[k++] = i;
                }
            }
            st[k] = t;
            n = k;
            start = Arrays.copyOf(st, k + 1);
            seqMin = new int[k];
            seqMax = new int[k];
            consecutive = new boolean[k];
            for (int r = 0; r < k; r++) {
                int lo = Integer.MAX_VALUE;
                int hi = -1;
                boolean step = true;
                for (int i = start[r]; i < start[r + 1]; i++) {
                    if (seq[i] >= 0) {
                        lo = Math.min(lo, seq[i]);
                        hi = Math.max(hi, seq[i]);
                    }
                    step &= i == start[r] || position[i] == position[i - 1] + 1;
                }
                seqMin[r] = lo;
                seqMax[r] = hi;
                consecutive[r] = step;
            }
        }

        /** Sequence s, whose last scored token is q: the tokens visible to q, then label[q]. */
        Decoded decodeSequence(int ri, int s, int q, int scoredCount, int tableCount, List<String> problems) {
            int[] toks = new int[q + 2];
            int[] scored = new int[scoredCount];
            int[] scoredLabel = new int[scoredCount];
            int m = 0;
            int c = 0;
            for (int r = 0; r < n && start[r] <= q; r++) {
                int hi = Math.min(start[r + 1], q + 1);
                boolean holdsS = seqMin[r] <= s && s <= seqMax[r];
                // the whole run is visible to q or not: its first token decides (start[r] <= q)
                boolean visible = AncestorMask.visible(rowNode, rowSubtreeEnd, q, start[r]);
                if (visible && consecutive[r] && position[start[r]] == m && !holdsS) {
                    // visible, positions continue the sequence, no label of s: the tokens as they are
                    System.arraycopy(token, start[r], toks, m, hi - start[r]);
                    m += hi - start[r];
                } else if (visible) {
                    for (int k = start[r]; k < hi; k++) {
                        if (position[k] != m) {
                            problems.add("row " + ri + " seq " + s + ": visible key t=" + k + " has position "
                                    + position[k] + ", expected " + m);
                        }
                        toks[m++] = token[k];
                        if (seq[k] == s) {
                            scored[c] = position[k];
                            scoredLabel[c++] = label[k];
                        }
                    }
                } else if (holdsS) {
                    for (int k = start[r]; k < hi; k++) {
                        if (seq[k] == s) {
                            problems.add("row " + ri + " seq " + s + ": scored token t=" + k
                                    + " is not on the path of the sequence's last token t=" + q);
                        }
                    }
                }
            }
            toks[m++] = label[q];
            toks = Arrays.copyOf(toks, m);
            for (int i = 0; i < c; i++) {
                int p = scored[i];
                if (p + 1 >= toks.length || toks[p + 1] != scoredLabel[i]) {
                    problems.add("row " + ri + " seq " + s + ": label at position " + p + " ("
                            + scoredLabel[i] + ") is not the next token of the sequence");
                }
            }
            return new Decoded(toks, Arrays.copyOf(scored, c), tableCount);
        }
    }

    /** Compares two decodings (e.g. prefix-shared vs paired); returns the differences (empty when identical). */
    public static List<String> compare(Map<SeqKey, Decoded> a, Map<SeqKey, Decoded> b, int maxProblems) {
        List<String> problems = new ArrayList<>();
        if (!a.keySet().equals(b.keySet())) {
            problems.add("different sequences: " + a.size() + " vs " + b.size());
        }
        for (Map.Entry<SeqKey, Decoded> e : a.entrySet()) {
            if (problems.size() >= maxProblems) {
                break;
            }
            Decoded other = b.get(e.getKey());
            if (other != null && !other.equals(e.getValue())) {
                problems.add(e.getKey() + ": " + e.getValue() + " vs " + other);
            }
        }
        return problems;
    }
}
