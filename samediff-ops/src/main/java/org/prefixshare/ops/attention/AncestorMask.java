package org.prefixshare.ops.attention;

/**
 * The one mask rule of prefix sharing (Java side; the native twin is {@code native/src/common/mask.h}).
 *
 * <p>A packed row is a forest: each document is a tree whose root is the shared prompt and whose children are the
 * responses. Tokens carry the pre-order index of their tree node ({@code node}) and the largest pre-order index
 * inside that node's subtree ({@code subtreeEnd}). Key {@code k} is visible to query {@code q} iff
 * <pre>  k &lt;= q  &amp;&amp;  node[k] &lt;= node[q]  &amp;&amp;  node[q] &lt;= subtreeEnd[k]</pre>
 * i.e. the key is causal and its node is an ancestor of (or equal to) the query's node. The same rule covers a
 * chosen/rejected pair, N responses, multi-turn trees, packing (documents occupy disjoint intervals) and padding
 * (padding gets a node of its own).
 */
public final class AncestorMask {

    private AncestorMask() {
    }

    /** Whether key {@code k} is visible to query {@code q} in a row with the given node / subtreeEnd arrays. */
    public static boolean visible(int[] node, int[] subtreeEnd, int q, int k) {
        return k <= q && node[k] <= node[q] && node[q] <= subtreeEnd[k];
    }

    /** Number of visible (query, key) pairs of one row: the work an exact kernel must do. */
    public static long visiblePairs(int[] node, int[] subtreeEnd) {
        long count = 0;
        for (int q = 0; q < node.length; q++) {
            for (int k = 0; k <= q; k++) {
                if (visible(node, subtreeEnd, q, k)) {
                    count++;
                }
            }
        }
        return count;
    }

    /** Visible pairs over T^2 (the dense work a kernel without skipping does). */
    public static double visibleFraction(int[] node, int[] subtreeEnd) {
        double t = node.length;
        return t == 0 ? 0 : visiblePairs(node, subtreeEnd) / (t * t);
    }

    /**
     * An ASCII picture of the mask, one line per query ('#' visible, '.' masked), for test failure messages and
     * {@code data stats}. Rows longer than {@code maxTokens} are cut (and say so).
     */
    public static String toAscii(int[] node, int[] subtreeEnd, int maxTokens) {
        int n = Math.min(node.length, maxTokens);
        StringBuilder sb = new StringBuilder((n + 1) * n + 64);
        for (int q = 0; q < n; q++) {
            for (int k = 0; k < n; k++) {
                sb.append(visible(node, subtreeEnd, q, k) ? '#' : '.');
            }
            sb.append('\n');
        }
        if (n < node.length) {
            sb.append("(first ").append(n).append(" of ").append(node.length).append(" tokens)\n");
        }
        return sb.toString();
    }
}
