package org.prefixshare.bench.training;

import java.util.Map;

/**
 * Training-throughput speedups reported by Wang &amp; Hegde (arXiv 2410.20305) on Mistral-7B: prefix sharing over
 * FlashAttention-3 paired training without packing, and prefix sharing + packing over FlashAttention-3 + packing.
 */
public final class PaperNumbers {

    private PaperNumbers() {
    }

    /** Speedup of prefix sharing over paired, no packing (ours: (c)/(b)). */
    public static final Map<String, Double> SHARED = Map.of(
            "Capybara", 1.42, "HH-RLHF", 1.07, "MetaMath-DPO", 1.38, "TLDR", 1.12, "Tulu-Helpsteer", 1.47,
            "UltraFeedback", 1.11);

    /** Speedup of prefix sharing + packing over paired + packing (ours: (d)/(e)). */
    public static final Map<String, Double> PACKED = Map.of(
            "Capybara", 1.34, "HH-RLHF", 1.41, "MetaMath-DPO", 1.57, "TLDR", 1.35, "Tulu-Helpsteer", 1.48,
            "UltraFeedback", 1.17);

    /** The paper's no-packing number for a profile, or NaN. */
    public static double shared(String profile) {
        return SHARED.getOrDefault(profile, Double.NaN);
    }

    /** The paper's packing number for a profile, or NaN. */
    public static double packed(String profile) {
        return PACKED.getOrDefault(profile, Double.NaN);
    }
}
