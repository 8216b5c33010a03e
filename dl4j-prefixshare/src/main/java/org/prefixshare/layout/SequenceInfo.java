package org.prefixshare.layout;

/**
 * One row of a batch's sequence table: a scored sequence (one response of one example).
 *
 * @param exampleId  the example's stable global id
 * @param rank       0 = chosen / best, 1 = rejected, ...
 * @param tokenCount number of scored tokens (labels)
 * @param refLogp    the reference model's log-prob of the sequence, NaN when not attached
 */
public record SequenceInfo(long exampleId, int rank, int tokenCount, double refLogp) {

    /** A copy with the reference log-prob attached. */
    public SequenceInfo withRefLogp(double v) {
        return new SequenceInfo(exampleId, rank, tokenCount, v);
    }
}
