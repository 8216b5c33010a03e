package org.prefixshare.layout;

import java.util.ArrayList;
import java.util.List;

/**
 * A piece of a row that is placed whole (never split): a prefix-shared document, one paired sequence, or the paired
 * sequences of one example side by side. Node indices are relative to the segment (0 = its first node) and sequence
 * indices relative to its {@link #sequences()}; {@link RowAssembler} shifts both. Immutable.
 */
public final class Segment {

    final long exampleId;
    final int[] token;
    final int[] position;
    final int[] node;
    final int[] subtreeEnd;
    final int[] label;
    final int[] seq;
    final int nodeCount;
    final List<SequenceInfo> sequences;

    Segment(long exampleId, int[] token, int[] position, int[] node, int[] subtreeEnd, int[] label, int[] seq,
            int nodeCount, List<SequenceInfo> sequences) {
        this.exampleId = exampleId;
        this.token = token;
        this.position = position;
        this.node = node;
        this.subtreeEnd = subtreeEnd;
        this.label = label;
        this.seq = seq;
        this.nodeCount = nodeCount;
        this.sequences = List.copyOf(sequences);
    }

    /** Concatenates segments (of one example) into one, keeping their nodes and sequences apart. */
    public static Segment concat(List<Segment> parts) {
        int len = 0;
        for (Segment s : parts) {
            len += s.length();
        }
        int[] tok = new int[len];
        int[] pos = new int[len];
        int[] nd = new int[len];
        int[] se = new int[len];
        int[] lb = new int[len];
        int[] sq = new int[len];
        List<SequenceInfo> seqs = new ArrayList<>();
        int at = 0;
        int nodeOff = 0;
        for (Segment s : parts) {
            int n = s.length();
            System.arraycopy(s.token, 0, tok, at, n);
            System.arraycopy(s.position, 0, pos, at, n);
            System.arraycopy(s.label, 0, lb, at, n);
            for (int i = 0; i < n; i++) {
                nd[at + i] = s.node[i] + nodeOff;
                se[at + i] = s.subtreeEnd[i] + nodeOff;
                sq[at + i] = s.seq[i] < 0 ? -1 : s.seq[i] + seqs.size();
            }
            seqs.addAll(s.sequences);
            nodeOff += s.nodeCount;
            at += n;
        }
        return new Segment(parts.get(0).exampleId, tok, pos, nd, se, lb, sq, nodeOff, seqs);
    }

    /** Tokens. */
    public int length() {
        return token.length;
    }

    /** The example it belongs to. */
    public long exampleId() {
        return exampleId;
    }

    /** Tree nodes it uses. */
    public int nodeCount() {
        return nodeCount;
    }

    /** Its scored sequences, in order of its relative sequence index. */
    public List<SequenceInfo> sequences() {
        return sequences;
    }

    /** The segment alone in a row of exactly its length (no padding), sequences numbered from 0. */
    public RowLayout toRow() {
        return RowAssembler.assemble(List.of(this), length(), 0, 0, new ArrayList<>());
    }
}
