package org.prefixshare.layout;

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
        for (int ri = 0; ri < batch.rows().size(); ri++) {
            RowLayout row = batch.rows().get(ri);
            int t = row.length();
            int[] last = new int[nSeq];
            int[] count = new int[nSeq];
            Arrays.fill(last, -1);
            for (int q = 0; q < t; q++) {
                int s = row.seq(q);
                if (s >= 0) {
                    if (s >= nSeq) {
                        problems.add("row " + ri + " t=" + q + ": seq " + s + " outside the table of " + nSeq);
                        continue;
                    }
                    last[s] = q;
                    count[s]++;
                    if (row.label(q) < 0) {
                        problems.add("row " + ri + " t=" + q + ": seq " + s + " but no label");
                    }
                } else if (row.label(q) >= 0) {
                    problems.add("row " + ri + " t=" + q + ": label " + row.label(q) + " without a seq");
                }
            }
            for (int s = 0; s < nSeq; s++) {
                if (last[s] < 0) {
                    continue;
                }
                if (seen[s]) {
                    problems.add("seq " + s + " appears in more than one row");
                }
                seen[s] = true;
                int q = last[s];
                int[] toks = new int[q + 2];
                int[] scored = new int[count[s]];
                int[] scoredLabel = new int[count[s]];
                int m = 0;
                int c = 0;
                for (int k = 0; k <= q; k++) {
                    boolean vis = row.visible(q, k);
                    if (vis) {
                        if (row.position(k) != m) {
                            problems.add("row " + ri + " seq " + s + ": visible key t=" + k + " has position "
                                    + row.position(k) + ", expected " + m);
                        }
                        toks[m++] = row.token(k);
                    }
                    if (row.seq(k) == s) {
                        if (!vis) {
                            problems.add("row " + ri + " seq " + s + ": scored token t=" + k
                                    + " is not on the path of the sequence's last token t=" + q);
                            continue;
                        }
                        scored[c] = row.position(k);
                        scoredLabel[c++] = row.label(k);
                    }
                }
                toks[m++] = row.label(q);
                toks = Arrays.copyOf(toks, m);
                for (int i = 0; i < c; i++) {
                    int p = scored[i];
                    if (p + 1 >= toks.length || toks[p + 1] != scoredLabel[i]) {
                        problems.add("row " + ri + " seq " + s + ": label at position " + p + " ("
                                + scoredLabel[i] + ") is not the next token of the sequence");
                    }
                }
                SequenceInfo info = batch.sequences().get(s);
                if (info.tokenCount() != count[s]) {
                    problems.add("seq " + s + ": table says " + info.tokenCount() + " tokens, row has " + count[s]);
                }
                Decoded prev = out.put(new SeqKey(info.exampleId(), info.rank()),
                        new Decoded(toks, Arrays.copyOf(scored, c), info.tokenCount()));
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
