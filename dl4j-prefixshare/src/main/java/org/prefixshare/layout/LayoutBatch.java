package org.prefixshare.layout;

import java.util.List;

/**
 * A batch: rows of equal length T and the sequence table (sequence s = the s-th entry; rows refer to it through
 * {@link RowLayout#seq}).
 *
 * @param rows      the rows
 * @param sequences the sequence table
 */
public record LayoutBatch(List<RowLayout> rows, List<SequenceInfo> sequences) {

    public LayoutBatch {
        rows = List.copyOf(rows);
        sequences = List.copyOf(sequences);
        if (rows.isEmpty()) {
            throw new IllegalArgumentException("a batch needs at least one row");
        }
        int t = rows.get(0).length();
        for (RowLayout r : rows) {
            if (r.length() != t) {
                throw new IllegalArgumentException("rows of one batch must have one length; got " + t + " and "
                        + r.length());
            }
        }
    }

    /** T. */
    public int length() {
        return rows.get(0).length();
    }

    /** Real (non-padding) tokens. */
    public long usedTokens() {
        long n = 0;
        for (RowLayout r : rows) {
            n += r.used();
        }
        return n;
    }

    /** Row tokens (rows x T). */
    public long rowTokens() {
        return (long) rows.size() * length();
    }
}
