package org.prefixshare.layout;

import java.util.Arrays;
import java.util.List;

/**
 * Places whole segments one after another into a row of length T and pads the rest. Each padding token is a node of
 * its own that sees only itself: padding needs no attention, and one shared padding node would make a padding run
 * of length L a causal block of L^2/2 visible pairs that the kernels compute for nothing (in a packed row's tail,
 * as much work as a few documents).
 */
public final class RowAssembler {

    private RowAssembler() {
    }

    /**
     * Builds one row.
     *
     * @param segments  segments, placed in this order from t = 0
     * @param length    T (at least the segments' total length)
     * @param padId     token id of padding
     * @param seqBase   batch-wide index of the first sequence of this row
     * @param seqsOut   receives the row's sequences in batch order (appended)
     */
    public static RowLayout assemble(List<Segment> segments, int length, int padId, int seqBase,
                                     List<SequenceInfo> seqsOut) {
        int used = 0;
        for (Segment s : segments) {
            used += s.length();
        }
        if (used > length) {
            throw new IllegalArgumentException("segments hold " + used + " tokens but the row has only " + length);
        }
        int[] tok = new int[length];
        int[] pos = new int[length];
        int[] nd = new int[length];
        int[] se = new int[length];
        int[] lb = new int[length];
        int[] sq = new int[length];
        int at = 0;
        int nodeOff = 0;
        int seqOff = seqBase;
        for (Segment s : segments) {
            int n = s.length();
            System.arraycopy(s.token, 0, tok, at, n);
            System.arraycopy(s.position, 0, pos, at, n);
            System.arraycopy(s.label, 0, lb, at, n);
            if (nodeOff == 0) {
                System.arraycopy(s.node, 0, nd, at, n);
                System.arraycopy(s.subtreeEnd, 0, se, at, n);
            } else {
                for (int i = 0; i < n; i++) {
                    nd[at + i] = s.node[i] + nodeOff;
                    se[at + i] = s.subtreeEnd[i] + nodeOff;
                }
            }
            for (int i = 0; i < n; i++) {
                sq[at + i] = s.seq[i] < 0 ? -1 : s.seq[i] + seqOff;
            }
            seqsOut.addAll(s.sequences);
            nodeOff += s.nodeCount;
            seqOff += s.sequences.size();
            at += n;
        }
        Arrays.fill(tok, at, length, padId);
        for (int t = at; t < length; t++) {
            nd[t] = nodeOff + (t - at);
            se[t] = nd[t];
        }
        Arrays.fill(lb, at, length, -1);
        Arrays.fill(sq, at, length, -1);
        return new RowLayout(tok, pos, nd, se, lb, sq, used);
    }
}
