package org.prefixshare.bench.training;

import org.prefixshare.ops.attention.PrefixShareOps;

/**
 * The five ways {@code bench training} trains on the same examples (same model, same examples per optimiser step).
 * Padded modes pad every row of a step to its longest row rounded up to 64 (TRL's paired batches); packed modes fill
 * one row per step (or rows of a fixed pack length) first-fit-decreasing.
 */
public enum TrainingMode {
    /** Paired, padded, dense SameDiff reference attention: what a DL4J user writes today. */
    A("a", "paired, padded, dense reference attention", false, false, PrefixShareOps.Implementation.REFERENCE),
    /** Paired, padded, native op: the paper's FlashAttention paired baseline. */
    B("b", "paired, padded, native op", false, false, PrefixShareOps.Implementation.NATIVE),
    /** Prefix-shared, one document per row, padded, native op. */
    C("c", "prefix-shared, one document per row, native op", true, false, PrefixShareOps.Implementation.NATIVE),
    /** Prefix-shared and packed, native op. */
    D("d", "prefix-shared, packed, native op", true, true, PrefixShareOps.Implementation.NATIVE),
    /**
     * Paired and packed: chosen and rejected of each example are separate documents (no sharing), packed
     * first-fit-decreasing; the paper's FlashAttention + packing baseline.
     */
    E("e", "paired, packed (each sequence its own document), native op", false, true,
            PrefixShareOps.Implementation.NATIVE);

    private final String key;
    private final String description;
    private final boolean shared;
    private final boolean packed;
    private final PrefixShareOps.Implementation implementation;

    TrainingMode(String key, String description, boolean shared, boolean packed,
                 PrefixShareOps.Implementation implementation) {
        this.key = key;
        this.description = description;
        this.shared = shared;
        this.packed = packed;
        this.implementation = implementation;
    }

    /** The one-letter key used in tables and JSON. */
    public String key() {
        return key;
    }

    public String description() {
        return description;
    }

    /** Prefix-shared layout (else paired). */
    public boolean shared() {
        return shared;
    }

    /**
     * Packed: documents first-fit-decreasing into one row per step or rows of a pack length (else one unit per row,
     * padded).
     */
    public boolean packed() {
        return packed;
    }

    /** The attention implementation of the model. */
    public PrefixShareOps.Implementation implementation() {
        return implementation;
    }

    /** The mode with this key ("a" .. "e"). */
    public static TrainingMode of(String key) {
        for (TrainingMode m : values()) {
            if (m.key.equalsIgnoreCase(key)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown mode '" + key + "'; valid: a, b, c, d, e");
    }
}
