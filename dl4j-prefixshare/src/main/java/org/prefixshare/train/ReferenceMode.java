package org.prefixshare.train;

import java.util.Arrays;
import java.util.Locale;

/** Where the reference model's log-probs come from. */
public enum ReferenceMode {
    /**
     * One pass through the prefix-shared forward with the frozen initial weights before training; stored per example
     * (in memory and in {@code reference_logps.tsv} of the output directory, reused by a later run) and attached to
     * batches by the iterator.
     */
    PRECOMPUTED,
    /** A frozen copy of the initial model evaluated on every batch. */
    LIVE,
    /** No reference: only for reference-free losses (sft, simpo, cpo, orpo). */
    NONE;

    /** By name, case-insensitive; an unknown name lists the valid ones. */
    public static ReferenceMode fromName(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown reference mode '" + name + "'; valid: "
                    + Arrays.toString(values()).toLowerCase(Locale.ROOT));
        }
    }
}
