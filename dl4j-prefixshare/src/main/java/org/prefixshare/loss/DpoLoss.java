package org.prefixshare.loss;

import java.util.Objects;
import java.util.stream.Collectors;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * Builds the preference loss of a {@link LossConfig} over a batch's {@link PairLogps} into a SameDiff graph.
 *
 * <p>The shared log-ratios are computed once ({@code LogRatios}); each term is one short branch in {@link LossType};
 * the loss is {@code sum_k weight_k * mean_over_pairs(term_k)}. The graph gets these named variables:
 * <ul>
 *   <li>{@code loss} (also set as the graph's loss variable) and {@code loss_<name>} per term, e.g.
 *       {@code loss_sigmoid} (unweighted);</li>
 *   <li>the {@link Metric}s, TRL's {@code rewards/chosen}, {@code rewards/rejected}, {@code rewards/accuracies},
 *       {@code rewards/margins}, {@code logps/chosen}, {@code logps/rejected} as {@code rewards_chosen}, ...: means over
 *       pairs.</li>
 * </ul>
 *
 * <p>Metric conventions follow the TRL trainer of the loss:
 * <ul>
 *   <li>when any term needs a reference (DPOTrainer): {@code rewards = beta * (pi - ref)} with summed log-probs;</li>
 *   <li>when every term is reference-free (CPOTrainer, ORPOTrainer): {@code rewards = beta * pi}, even if reference
 *       log-probs are supplied;</li>
 *   <li>{@code logps/*} and reference-free rewards use length-averaged log-probs ({@code pi / n}) when the first term
 *       is {@code simpo} or {@code orpo} (their trainers use {@code average_log_prob=True}), summed ones otherwise.</li>
 * </ul>
 * Accuracies count pairs whose chosen reward is strictly greater than the rejected one.
 */
public final class DpoLoss {

    /** Prefix of the per-term loss variable names ({@code loss_sigmoid}, ...). */
    public static final String TERM_PREFIX = "loss_";

    private DpoLoss() {
    }

    /**
     * Adds the loss and metrics of {@code cfg} over {@code pairs} to {@code sd} and marks the loss as the graph's loss
     * variable.
     *
     * @return the scalar loss (variable {@code loss})
     * @throws IllegalArgumentException when a term needs reference log-probs that {@code pairs} lacks, when
     *                                  {@code bco_pair} has no baseline, or when a variable name is already taken
     */
    public static SDVariable build(SameDiff sd, PairLogps pairs, LossConfig cfg) {
        Objects.requireNonNull(sd, "sd");
        Objects.requireNonNull(pairs, "pairs");
        Objects.requireNonNull(cfg, "cfg");
        if (pairs.chosen().getSameDiff() != sd) {
            throw new IllegalArgumentException("DpoLoss.build: the pair variables belong to another SameDiff graph");
        }
        if (cfg.needsReference() && !pairs.hasReference()) {
            String need = cfg.terms().stream().map(LossConfig.Term::type).filter(LossType::needsReference)
                    .map(LossType::trlName).collect(Collectors.joining(", "));
            throw new IllegalArgumentException("loss " + need + " needs reference log-probs, but the pairs have none;"
                    + " supply refChosen/refRejected (precomputed or live reference) or use a reference-free loss"
                    + " (sft, simpo, cpo, orpo)");
        }
        if (cfg.contains(LossType.BCO_PAIR) && pairs.bcoDelta() == null) {
            throw new IllegalArgumentException("bco_pair needs its reward baseline delta: create a scalar placeholder,"
                    + " pass it with PairLogps.withBcoDelta(...) and feed BcoRunningMean's value each step"
                    + " (feed 0 for TRL main's behaviour without running mean)");
        }
        checkFree(sd, Metric.varNames());
        for (LossConfig.Term t : cfg.terms()) {
            checkFree(sd, TERM_PREFIX + t.type().trlName());
        }

        LogRatios r = LogRatios.of(sd, pairs);
        SDVariable total = null;
        for (LossConfig.Term t : cfg.terms()) {
            SDVariable term = sd.identity(TERM_PREFIX + t.type().trlName(), t.type().term(r, cfg));
            SDVariable weighted = t.weight() == 1.0 ? term : term.mul(t.weight());
            total = total == null ? weighted : total.add(weighted);
        }
        SDVariable loss = sd.identity(Metric.LOSS.varName(), total);
        addMetrics(sd, r, cfg);
        sd.setLossVariables(loss);
        return loss;
    }

    private static void addMetrics(SameDiff sd, LogRatios r, LossConfig cfg) {
        boolean averaged = cfg.primary().averagesLogps();
        SDVariable logpC = averaged ? r.chosenAvg() : r.chosen();
        SDVariable logpR = averaged ? r.rejectedAvg() : r.rejected();
        SDVariable rewC;
        SDVariable rewR;
        if (cfg.needsReference()) {
            rewC = r.chosenScores().mul(cfg.beta());
            rewR = r.rejectedScores().mul(cfg.beta());
        } else {
            rewC = logpC.mul(cfg.beta());
            rewR = logpR.mul(cfg.beta());
        }
        sd.mean(Metric.REWARDS_CHOSEN.varName(), rewC);
        sd.mean(Metric.REWARDS_REJECTED.varName(), rewR);
        sd.mean(Metric.REWARDS_ACCURACIES.varName(), rewC.gt(rewR).castTo(r.chosen().dataType()));
        sd.mean(Metric.REWARDS_MARGINS.varName(), rewC.sub(rewR));
        sd.mean(Metric.LOGPS_CHOSEN.varName(), logpC);
        sd.mean(Metric.LOGPS_REJECTED.varName(), logpR);
    }

    private static void checkFree(SameDiff sd, String... names) {
        for (String n : names) {
            if (sd.hasVariable(n)) {
                throw new IllegalArgumentException("DpoLoss.build: the graph already has a variable '" + n
                        + "'; build the loss once per graph");
            }
        }
    }
}
