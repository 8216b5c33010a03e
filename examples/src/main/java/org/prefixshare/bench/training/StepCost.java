package org.prefixshare.bench.training;

import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.RowLayout;

/**
 * What a batch costs before any kernel runs: tokens processed (rows x T, padding included), real tokens, rows, and
 * the visible (query, key) pairs under the ancestor rule (the attention work of an exact, tile-skipping kernel;
 * counted by {@link org.prefixshare.ops.attention.AncestorMask#visiblePairs}).
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
            pairs += r.visiblePairs();
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
}
