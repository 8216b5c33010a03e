package org.prefixshare.bench.training;

import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.RowLayout;

/**
 * What a batch costs before any kernel runs: tokens processed (rows x T, padding included), real tokens, rows, and
 * the visible (query, key) pairs under the ancestor rule (the attention work of an exact, tile-skipping kernel;
 * padding attends causally to padding, so it is counted too).
 *
 * @param steps         steps summed
 * @param rows          rows
 * @param rowTokens     rows x T
 * @param usedTokens    non-padding tokens
 * @param visiblePairs  visible (q, k) pairs summed over rows
 * @param denseTokens2  sum over rows of T^2 (what a dense attention computes)
 * @param labels        scored (labelled) positions, the same in every layout of the same examples
 */
public record StepCost(int steps, long rows, long rowTokens, long usedTokens, long visiblePairs, long denseTokens2,
                       long labels) {

    /** Zero. */
    public static final StepCost ZERO = new StepCost(0, 0, 0, 0, 0, 0, 0);

    /** The cost of one batch. */
    public static StepCost of(LayoutBatch b) {
        long pairs = 0;
        long labels = 0;
        long t = b.length();
        for (RowLayout r : b.rows()) {
            pairs += visiblePairs(r.node(), r.subtreeEnd());
            labels += r.scoredTokens();
        }
        return new StepCost(1, b.rows().size(), b.rowTokens(), b.usedTokens(), pairs, b.rows().size() * t * t,
                labels);
    }

    /** Sum. */
    public StepCost plus(StepCost o) {
        return new StepCost(steps + o.steps, rows + o.rows, rowTokens + o.rowTokens, usedTokens + o.usedTokens,
                visiblePairs + o.visiblePairs, denseTokens2 + o.denseTokens2, labels + o.labels);
    }

    /**
     * Visible pairs of a row in O(T x nodes) rather than O(T^2): for each query, the keys at or before it whose node
     * is an ancestor-or-self (node[k] <= node[q] <= subtreeEnd[k]); tokens of one node are contiguous runs, so it
     * counts per run.
     */
    static long visiblePairs(int[] node, int[] end) {
        int n = node.length;
        // runs of equal (node, end)
        int[] runStart = new int[n + 1];
        int runs = 0;
        for (int i = 0; i < n; i++) {
            if (i == 0 || node[i] != node[i - 1] || end[i] != end[i - 1]) {
                runStart[runs++] = i;
            }
        }
        runStart[runs] = n;
        long count = 0;
        for (int qr = 0; qr < runs; qr++) {
            int qn = node[runStart[qr]];
            for (int kr = 0; kr <= qr; kr++) {
                int k0 = runStart[kr];
                if (node[k0] <= qn && qn <= end[k0]) {
                    long qLen = runStart[qr + 1] - runStart[qr];
                    if (kr == qr) {
                        count += qLen * (qLen + 1) / 2;      // causal within the run
                    } else {
                        count += qLen * (runStart[kr + 1] - k0);
                    }
                }
            }
        }
        return count;
    }
}
