package org.prefixshare.loss;

import java.util.Objects;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The per-pair inputs of the loss family, as SameDiff variables of shape {@code [P]} (one entry per preference pair).
 *
 * @param chosen         policy log-prob of the chosen response, summed over its tokens
 * @param rejected       policy log-prob of the rejected response, summed over its tokens
 * @param refChosen      reference-model log-prob of the chosen response; null for reference-free training
 * @param refRejected    reference-model log-prob of the rejected response; null together with {@code refChosen}
 * @param chosenTokens   number of scored tokens of the chosen response (floating point, for length normalisation)
 * @param rejectedTokens number of scored tokens of the rejected response
 * @param bcoDelta       scalar reward baseline of {@link LossType#BCO_PAIR} (TRL's running mean of the rewards), e.g.
 *                       a placeholder fed from {@link BcoRunningMean}; null when {@code bco_pair} is not used
 */
public record PairLogps(SDVariable chosen, SDVariable rejected, SDVariable refChosen, SDVariable refRejected,
                        SDVariable chosenTokens, SDVariable rejectedTokens, SDVariable bcoDelta) {

    /** Checks the required variables are present and the reference log-probs come as a pair. */
    public PairLogps {
        Objects.requireNonNull(chosen, "PairLogps: chosen (policy log-probs of the chosen responses) is required");
        Objects.requireNonNull(rejected, "PairLogps: rejected (policy log-probs of the rejected responses) is required");
        Objects.requireNonNull(chosenTokens, "PairLogps: chosenTokens is required (length normalisation, NLL)");
        Objects.requireNonNull(rejectedTokens, "PairLogps: rejectedTokens is required (length normalisation)");
        if ((refChosen == null) != (refRejected == null)) {
            throw new IllegalArgumentException("PairLogps: give both reference log-probs (refChosen and refRejected)"
                    + " or neither (reference-free); got only " + (refChosen == null ? "refRejected" : "refChosen"));
        }
        SameDiff sd = chosen.getSameDiff();
        for (SDVariable v : new SDVariable[] {rejected, refChosen, refRejected, chosenTokens, rejectedTokens, bcoDelta}) {
            if (v != null && v.getSameDiff() != sd) {
                throw new IllegalArgumentException("PairLogps: variable '" + v.name()
                        + "' belongs to another SameDiff graph than '" + chosen.name() + "'");
            }
        }
    }

    /** Reference-free pairs (no reference log-probs, no BCO baseline). */
    public static PairLogps referenceFree(SDVariable chosen, SDVariable rejected, SDVariable chosenTokens,
                                          SDVariable rejectedTokens) {
        return new PairLogps(chosen, rejected, null, null, chosenTokens, rejectedTokens, null);
    }

    /** Pairs with reference log-probs (no BCO baseline). */
    public static PairLogps withReference(SDVariable chosen, SDVariable rejected, SDVariable refChosen,
                                          SDVariable refRejected, SDVariable chosenTokens, SDVariable rejectedTokens) {
        return new PairLogps(chosen, rejected, refChosen, refRejected, chosenTokens, rejectedTokens, null);
    }

    /**
     * Gathers per-sequence vectors {@code [S]} into pairs, differentiably: each pair vector is a constant one-hot
     * selection matrix {@code [P, S]} times the sequence vector, so the gradient of a sequence that appears in several
     * pairs (the chosen response of an example with 3+ responses) is the sum over those pairs.
     *
     * <p>Why not {@code sd.gather}: in ND4J 1.0.0-M2.1 its backward assigns instead of accumulating (a repeated index
     * gets the gradient of one occurrence only) and a second differentiable gather in the same graph fails with
     * "Unable to replace samediff namespace". The selection costs {@code P * S} multiply-adds per vector, negligible
     * next to the model; the sequence values must be finite (0 * inf is NaN).
     *
     * @param sd          the graph
     * @param seqLogps    policy log-prob of every scored sequence {@code [S]}
     * @param seqRefLogps reference log-prob of every sequence {@code [S]}, or null (reference-free)
     * @param seqTokens   token count of every sequence {@code [S]} (floating point, same type as the log-probs)
     * @param pairs       the pairs, e.g. {@link PairIndex#fromSequenceTable}
     */
    public static PairLogps gather(SameDiff sd, SDVariable seqLogps, SDVariable seqRefLogps, SDVariable seqTokens,
                                   PairIndex pairs) {
        Objects.requireNonNull(pairs, "pairs");
        DataType dt = seqLogps.dataType();
        SDVariable selC = sd.constant(oneHot(pairs.chosen(), pairs.numSequences(), dt));
        SDVariable selR = sd.constant(oneHot(pairs.rejected(), pairs.numSequences(), dt));
        return fromSelections(seqLogps, seqRefLogps, seqTokens, selC, selR);
    }

    /**
     * As {@link #gather} with the selection matrices given as variables {@code [P,S]} (placeholders fed per batch
     * with {@link #selectionMatrices}), so one graph serves batches of any number of pairs and sequences.
     */
    public static PairLogps fromSelections(SDVariable seqLogps, SDVariable seqRefLogps, SDVariable seqTokens,
                                           SDVariable selChosen, SDVariable selRejected) {
        SameDiff sd = seqLogps.getSameDiff();
        SDVariable refC = seqRefLogps == null ? null : select(sd, selChosen, seqRefLogps);
        SDVariable refR = seqRefLogps == null ? null : select(sd, selRejected, seqRefLogps);
        return new PairLogps(select(sd, selChosen, seqLogps), select(sd, selRejected, seqLogps), refC, refR,
                select(sd, selChosen, seqTokens), select(sd, selRejected, seqTokens), null);
    }

    /** The {chosen, rejected} one-hot selection matrices {@code [P,S]} of these pairs. */
    public static INDArray[] selectionMatrices(PairIndex pairs, DataType dt) {
        return new INDArray[]{oneHot(pairs.chosen(), pairs.numSequences(), dt),
                oneHot(pairs.rejected(), pairs.numSequences(), dt)};
    }

    private static SDVariable select(SameDiff sd, SDVariable sel, SDVariable seq) {
        return sd.mmul(sel, seq.reshape(-1, 1)).reshape(-1);
    }

    private static INDArray oneHot(int[] idx, int s, DataType dt) {
        INDArray m = Nd4j.zeros(dt, idx.length, s);
        for (int i = 0; i < idx.length; i++) {
            m.putScalar(i, idx[i], 1.0);
        }
        return m;
    }

    /** These pairs with a BCO reward baseline (a scalar variable, e.g. a placeholder fed from {@link BcoRunningMean}). */
    public PairLogps withBcoDelta(SDVariable delta) {
        return new PairLogps(chosen, rejected, refChosen, refRejected, chosenTokens, rejectedTokens, delta);
    }

    /** Whether reference log-probs are present. */
    public boolean hasReference() {
        return refChosen != null;
    }
}
