package org.prefixshare.pack;

/**
 * Reference-model log-probs attached to the sequence table by the iterators. Implementations return NaN when they do
 * not know a sequence.
 */
@FunctionalInterface
public interface ReferenceLogps {

    /** None known: always NaN. */
    ReferenceLogps NONE = (exampleId, rank) -> Double.NaN;

    /** The summed log-prob of response {@code rank} of example {@code exampleId}, or NaN when unknown. */
    double get(long exampleId, int rank);
}
