package org.prefixshare.loss;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The per-step metrics {@link DpoLoss} adds to the graph: the SameDiff variable name (SameDiff names cannot contain
 * '/') and the name TRL logs it under. Each is a scalar, the mean over the batch's pairs.
 */
public enum Metric {
    /** The total loss (also the graph's loss variable). */
    LOSS("loss", "loss"),
    /** Mean reward of the chosen responses. */
    REWARDS_CHOSEN("rewards_chosen", "rewards/chosen"),
    /** Mean reward of the rejected responses. */
    REWARDS_REJECTED("rewards_rejected", "rewards/rejected"),
    /** Fraction of pairs whose chosen reward is strictly greater than the rejected one. */
    REWARDS_ACCURACIES("rewards_accuracies", "rewards/accuracies"),
    /** Mean of chosen minus rejected reward. */
    REWARDS_MARGINS("rewards_margins", "rewards/margins"),
    /** Mean policy log-prob of the chosen responses. */
    LOGPS_CHOSEN("logps_chosen", "logps/chosen"),
    /** Mean policy log-prob of the rejected responses. */
    LOGPS_REJECTED("logps_rejected", "logps/rejected");

    private final String varName;
    private final String trlName;

    Metric(String varName, String trlName) {
        this.varName = varName;
        this.trlName = trlName;
    }

    /** The SameDiff variable name. */
    public String varName() {
        return varName;
    }

    /** The name TRL logs it under, e.g. {@code rewards/chosen}; prefix {@code eval_} for evaluation. */
    public String trlName() {
        return trlName;
    }

    /** All variable names, in declaration order (handy for {@code sd.output(placeholders, names)}). */
    public static String[] varNames() {
        return Arrays.stream(values()).map(Metric::varName).toArray(String[]::new);
    }

    /** Map from SameDiff variable name to TRL name, in declaration order. */
    public static Map<String, String> trlNames() {
        Map<String, String> m = new LinkedHashMap<>();
        for (Metric x : values()) {
            m.put(x.varName, x.trlName);
        }
        return m;
    }
}
