package org.prefixshare.pack;

/** Which row layout the iterators produce over the same examples. */
public enum LayoutFormat {
    /** Prefix-shared documents (prompt once, one branch per response). */
    SHARED,
    /** Paired format: one sequence per (prompt, response); the baseline. */
    PAIRED
}
