package org.prefixshare.data;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;

/** Counters of one read: records read, records skipped by reason, examples whose responses are identical. */
public final class ReadCounts {

    private long records;
    private long examples;
    private long identical;
    private final EnumMap<InvalidReason, Long> skipped = new EnumMap<>(InvalidReason.class);

    void record() {
        records++;
    }

    void example(PreferenceExample e) {
        examples++;
        if (e.hasIdenticalResponses()) {
            identical++;
        }
    }

    void skip(InvalidReason reason) {
        skipped.merge(reason, 1L, Long::sum);
    }

    /** Records seen (valid or not). */
    public long records() {
        return records;
    }

    /** Valid examples returned. */
    public long examples() {
        return examples;
    }

    /** Examples with two identical responses (kept, but they carry no preference signal). */
    public long identicalResponses() {
        return identical;
    }

    /** Records skipped (with skipInvalid) by reason key. */
    public Map<String, Long> skipped() {
        Map<String, Long> m = new LinkedHashMap<>();
        skipped.forEach((k, v) -> m.put(k.key(), v));
        return m;
    }

    /** Total records skipped. */
    public long skippedTotal() {
        return skipped.values().stream().mapToLong(Long::longValue).sum();
    }

    @Override
    public String toString() {
        return "ReadCounts{records=" + records + ", examples=" + examples + ", identical=" + identical
                + ", skipped=" + skipped() + "}";
    }
}
