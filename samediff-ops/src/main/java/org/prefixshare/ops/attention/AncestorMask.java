package org.prefixshare.ops.attention;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The one mask rule of prefix sharing, on the Java side: every Java caller (the row layout, the layout decoder, the
 * dense reference attention, the benchmark's cost model, the mask pictures) asks here. The native twin is
 * {@code native/src/common/mask.h}; {@code docs/design.md}, "The mask rule, and where it lives", explains both.
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

    /**
     * Number of visible (query, key) pairs of one row: the work an exact kernel must do. Exact for any arrays, in
     * O(T x runs) rather than O(T^2): a run of consecutive tokens with the same (node, subtreeEnd) is visible or not
     * as a whole to any later query, and causally to itself.
     */
    public static long visiblePairs(int[] node, int[] subtreeEnd) {
        int n = node.length;
        int[] runStart = new int[n + 1];
        int runs = 0;
        for (int i = 0; i < n; i++) {
            if (i == 0 || node[i] != node[i - 1] || subtreeEnd[i] != subtreeEnd[i - 1]) {
                runStart[runs++] = i;
            }
        }
        runStart[runs] = n;
        long count = 0;
        for (int qr = 0; qr < runs; qr++) {
            int q0 = runStart[qr];
            long qLen = runStart[qr + 1] - q0;
            for (int kr = 0; kr <= qr; kr++) {
                int k0 = runStart[kr];
                if (visible(node, subtreeEnd, q0, k0)) {
                    count += kr == qr ? qLen * (qLen + 1) / 2 : qLen * (runStart[kr + 1] - k0);
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

    /**
     * The rule as a SameDiff graph: {@code [B,1,T,T]}, 1 where key k is visible to query q, else 0, from node and
     * subtreeEnd {@code [B,T]} of a floating-point type (the result has their type). The dense reference attention
     * multiplies its scores by it.
     */
    public static SDVariable visibility(SameDiff sd, SDVariable node, SDVariable subtreeEnd) {
        SDVariable index = sd.cumsum(sd.onesLike(node), false, false, 1).sub(1.0); // [B,T]: 0..T-1
        SDVariable qIndex = sd.expandDims(sd.expandDims(index, 1), 3);           // [B,1,T,1]
        SDVariable kIndex = sd.expandDims(sd.expandDims(index, 1), 2);           // [B,1,1,T]
        SDVariable qNode = sd.expandDims(sd.expandDims(node, 1), 3);
        SDVariable kNode = sd.expandDims(sd.expandDims(node, 1), 2);
        SDVariable kEnd = sd.expandDims(sd.expandDims(subtreeEnd, 1), 2);
        DataType dt = node.dataType();
        SDVariable causal = sd.lte(kIndex, qIndex).castTo(dt);                  // k <= q
        SDVariable ancestor = sd.lte(kNode, qNode).castTo(dt);                  // node[k] <= node[q]
        SDVariable inSubtree = sd.lte(qNode, kEnd).castTo(dt);                  // node[q] <= subtreeEnd[k]
        return causal.mul(ancestor).mul(inSubtree);
    }
}
