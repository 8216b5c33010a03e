package org.prefixshare.data.workload;

import java.util.List;
import java.util.Locale;

/**
 * The shape of a preference data set as far as throughput is concerned: the median overall length (prompt + chosen
 * + rejected tokens) and the median prefix/completion ratio (prompt tokens over the mean of the two response
 * lengths), per example.
 *
 * @param name          display name
 * @param medianOverall median of {@code P + C_chosen + C_rejected} in tokens
 * @param medianRatio   median of {@code P / ((C_chosen + C_rejected) / 2)}
 */
public record WorkloadProfile(String name, double medianOverall, double medianRatio) {

    /**
     * The six data sets of Wang &amp; Hegde, "Accelerating Direct Preference Optimization with Prefix Sharing"
     * (arXiv 2410.20305), with their median overall lengths and prefix/completion ratios as the paper gives them.
     */
    public static final List<WorkloadProfile> PAPER = List.of(
            new WorkloadProfile("Capybara", 1160, 1.59),
            new WorkloadProfile("HH-RLHF", 186, 2.15),
            new WorkloadProfile("MetaMath-DPO", 872, 3.91),
            new WorkloadProfile("TLDR", 416, 11.14),
            new WorkloadProfile("Tulu-Helpsteer", 775, 6.34),
            new WorkloadProfile("UltraFeedback", 409, 0.42));

    public WorkloadProfile {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a profile needs a name");
        }
        if (!(medianOverall >= 3) || Double.isInfinite(medianOverall)) {
            throw new IllegalArgumentException("medianOverall must be finite and >= 3 tokens, got " + medianOverall);
        }
        if (!(medianRatio > 0) || Double.isInfinite(medianRatio)) {
            throw new IllegalArgumentException("medianRatio must be finite and > 0, got " + medianRatio);
        }
    }

    /** Median prompt length P implied by the two medians when lengths sit exactly at them: r L / (r + 2). */
    public double nominalPrompt() {
        return medianRatio * medianOverall / (medianRatio + 2);
    }

    /** Median response length C implied by the two medians: L / (r + 2). */
    public double nominalCompletion() {
        return medianOverall / (medianRatio + 2);
    }

    /** This profile with every length divided by {@code divisor} (the ratio is kept). */
    public WorkloadProfile scaledDown(double divisor) {
        if (!(divisor >= 1)) {
            throw new IllegalArgumentException("divisor must be >= 1, got " + divisor);
        }
        return new WorkloadProfile(name, medianOverall / divisor, medianRatio);
    }

    /** A paper profile by name (case-insensitive). */
    public static WorkloadProfile paper(String name) {
        for (WorkloadProfile p : PAPER) {
            if (p.name.equalsIgnoreCase(name)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown profile '" + name + "'; valid: "
                + PAPER.stream().map(WorkloadProfile::name).toList());
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s(overall %.0f, ratio %.2f)", name, medianOverall, medianRatio);
    }
}
