package org.prefixshare.layout;

import org.prefixshare.ops.attention.AncestorMask;

import java.util.Arrays;

/**
 * One row of a batch in the prefix-shared row layout (see docs/design.md, "The row layout"); the paired format uses the
 * same record with one node per sequence. Per token {@code t < length()}:
 * <ul>
 *   <li>{@code token[t]}: token id (padding: the pad id);</li>
 *   <li>{@code position[t]}: RoPE position, counted from the document start, restarting at the fork for each
 *       branch (padding: 0);</li>
 *   <li>{@code node[t]}: pre-order index of the token's tree node, numbered across the whole row;</li>
 *   <li>{@code subtreeEnd[t]}: the largest pre-order index inside that node's subtree;</li>
 *   <li>{@code label[t]}: the next token in the same branch, or -1;</li>
 *   <li>{@code seq[t]}: the batch-wide index of the scored sequence the label belongs to, or -1.</li>
 * </ul>
 * Tokens {@code [used, length())} are padding: each a node of its own, seeing only itself. Key k is visible to query q by
 * {@link AncestorMask#visible}. Immutable: arrays are copied in, and the array accessors return copies (use the
 * per-token accessors in loops).
 *
 * @param token      token ids
 * @param position   positions
 * @param node       pre-order node indices
 * @param subtreeEnd subtree ends
 * @param label      next-token labels or -1
 * @param seq        sequence indices or -1
 * @param used       number of real (non-padding) tokens at the row start
 */
public record RowLayout(int[] token, int[] position, int[] node, int[] subtreeEnd, int[] label, int[] seq,
                        int used) {

    public RowLayout {
        int t = token.length;
        if (position.length != t || node.length != t || subtreeEnd.length != t || label.length != t
                || seq.length != t) {
            throw new IllegalArgumentException("row arrays differ in length: token " + t + ", position "
                    + position.length + ", node " + node.length + ", subtreeEnd " + subtreeEnd.length + ", label "
                    + label.length + ", seq " + seq.length);
        }
        if (used < 0 || used > t) {
            throw new IllegalArgumentException("used must be in [0, " + t + "], got " + used);
        }
        token = token.clone();
        position = position.clone();
        node = node.clone();
        subtreeEnd = subtreeEnd.clone();
        label = label.clone();
        seq = seq.clone();
    }

    /** T. */
    public int length() {
        return token.length;
    }

    /** Token id at t. */
    public int token(int t) {
        return token[t];
    }

    /** Position at t. */
    public int position(int t) {
        return position[t];
    }

    /** Node at t. */
    public int node(int t) {
        return node[t];
    }

    /** Subtree end at t. */
    public int subtreeEnd(int t) {
        return subtreeEnd[t];
    }

    /** Label at t (-1: none). */
    public int label(int t) {
        return label[t];
    }

    /** Sequence index at t (-1: none). */
    public int seq(int t) {
        return seq[t];
    }

    @Override
    public int[] token() {
        return token.clone();
    }

    @Override
    public int[] position() {
        return position.clone();
    }

    @Override
    public int[] node() {
        return node.clone();
    }

    @Override
    public int[] subtreeEnd() {
        return subtreeEnd.clone();
    }

    @Override
    public int[] label() {
        return label.clone();
    }

    @Override
    public int[] seq() {
        return seq.clone();
    }

    /**
     * The arrays themselves, not copies, for readers in this package that only read them: token, position, node,
     * subtreeEnd, label, seq.
     */
    int[][] arraysUnsafe() {
        return new int[][]{token, position, node, subtreeEnd, label, seq};
    }

    /** Whether key k is visible to query q (the ancestor rule). */
    public boolean visible(int q, int k) {
        return AncestorMask.visible(node, subtreeEnd, q, k);
    }

    /** Visible (q, k) pairs over T^2. */
    public double visibleFraction() {
        return AncestorMask.visibleFraction(node, subtreeEnd);
    }

    /** Number of visible (q, k) pairs. */
    public long visiblePairs() {
        return AncestorMask.visiblePairs(node, subtreeEnd);
    }

    /** The mask as ASCII ('#' visible), cut at {@code maxTokens}. */
    public String toAscii(int maxTokens) {
        return AncestorMask.toAscii(node, subtreeEnd, maxTokens);
    }

    /** The mask as ASCII, cut at 128 tokens. */
    public String toAscii() {
        return toAscii(128);
    }

    /** Number of labels (scored tokens). */
    public int scoredTokens() {
        int n = 0;
        for (int l : label) {
            if (l >= 0) {
                n++;
            }
        }
        return n;
    }

    /** A table of the row (one line per token), cut at {@code maxTokens}, for failure messages. */
    public String describe(int maxTokens) {
        StringBuilder sb = new StringBuilder("t\ttoken\tpos\tnode\tsubEnd\tlabel\tseq\n");
        for (int t = 0; t < Math.min(length(), maxTokens); t++) {
            sb.append(t).append('\t').append(token[t]).append('\t').append(position[t]).append('\t')
                    .append(node[t]).append('\t').append(subtreeEnd[t]).append('\t').append(label[t]).append('\t')
                    .append(seq[t]).append(t >= used ? "\t(pad)" : "").append('\n');
        }
        return sb.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RowLayout r && r.used == used && Arrays.equals(r.token, token)
                && Arrays.equals(r.position, position) && Arrays.equals(r.node, node)
                && Arrays.equals(r.subtreeEnd, subtreeEnd) && Arrays.equals(r.label, label)
                && Arrays.equals(r.seq, seq);
    }

    @Override
    public int hashCode() {
        return ((Arrays.hashCode(token) * 31 + Arrays.hashCode(node)) * 31 + Arrays.hashCode(label)) * 31 + used;
    }

    @Override
    public String toString() {
        return "RowLayout{T=" + length() + ", used=" + used + ", scored=" + scoredTokens() + "}";
    }
}
