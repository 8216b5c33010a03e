package org.prefixshare.loss;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * The quantities every loss branch shares, computed once per graph by {@link DpoLoss} (all {@code [P]} unless noted).
 *
 * @param sd             the graph
 * @param chosen         policy summed log-probs of the chosen responses ({@code pi_c})
 * @param rejected       policy summed log-probs of the rejected responses ({@code pi_r})
 * @param chosenTokens   chosen token counts, clamped to at least 1 ({@code n_c})
 * @param rejectedTokens rejected token counts, clamped to at least 1 ({@code n_r})
 * @param chosenScores   {@code pi_c - ref_c}, null without reference log-probs
 * @param rejectedScores {@code pi_r - ref_r}, null without reference log-probs
 * @param delta          {@code chosenScores - rejectedScores}, null without reference log-probs
 * @param chosenAvg      {@code pi_c / n_c}
 * @param rejectedAvg    {@code pi_r / n_r}
 * @param chosenNll      scalar {@code -sum(pi_c) / max(1, sum(raw n_c))}: token-mean NLL of the chosen responses
 * @param bcoDelta       scalar BCO reward baseline, null when not supplied
 */
record LogRatios(SameDiff sd, SDVariable chosen, SDVariable rejected, SDVariable chosenTokens,
                 SDVariable rejectedTokens, SDVariable chosenScores, SDVariable rejectedScores, SDVariable delta,
                 SDVariable chosenAvg, SDVariable rejectedAvg, SDVariable chosenNll, SDVariable bcoDelta) {

    /** Computes the shared quantities of {@code p}; reference-based ones only when {@code p} has reference log-probs. */
    static LogRatios of(SameDiff sd, PairLogps p) {
        SDVariable nc = sd.scalarMax(p.chosenTokens(), 1.0);
        SDVariable nr = sd.scalarMax(p.rejectedTokens(), 1.0);
        SDVariable sc = null;
        SDVariable sr = null;
        SDVariable d = null;
        if (p.hasReference()) {
            sc = p.chosen().sub(p.refChosen());
            sr = p.rejected().sub(p.refRejected());
            d = sc.sub(sr);
        }
        SDVariable nll = sd.sum(p.chosen()).div(sd.scalarMax(sd.sum(p.chosenTokens()), 1.0)).neg();
        return new LogRatios(sd, p.chosen(), p.rejected(), nc, nr, sc, sr, d,
                p.chosen().div(nc), p.rejected().div(nr), nll, p.bcoDelta());
    }
}
