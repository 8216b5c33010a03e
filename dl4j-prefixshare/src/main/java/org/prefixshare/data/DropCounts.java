package org.prefixshare.data;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;

/** Counters of {@link Truncator}: drops by reason, and how many prompts / responses were cut (kept). */
public final class DropCounts {

    private final EnumMap<DropReason, Long> dropped = new EnumMap<>(DropReason.class);
    private long promptsTruncated;
    private long responsesTruncated;
    private long kept;

    synchronized void drop(DropReason r) {
        dropped.merge(r, 1L, Long::sum);
    }

    synchronized void promptTruncated() {
        promptsTruncated++;
    }

    synchronized void responseTruncated() {
        responsesTruncated++;
    }

    synchronized void keep() {
        kept++;
    }

    /** Drops by reason key. */
    public synchronized Map<String, Long> dropped() {
        Map<String, Long> m = new LinkedHashMap<>();
        dropped.forEach((k, v) -> m.put(k.key(), v));
        return m;
    }

    /** Drops for one reason. */
    public synchronized long dropped(DropReason r) {
        return dropped.getOrDefault(r, 0L);
    }

    /** Total drops. */
    public synchronized long droppedTotal() {
        return dropped.values().stream().mapToLong(Long::longValue).sum();
    }

    /** Prompts cut to maxPromptLength. */
    public synchronized long promptsTruncated() {
        return promptsTruncated;
    }

    /** Responses cut to fit maxLength. */
    public synchronized long responsesTruncated() {
        return responsesTruncated;
    }

    /** Examples kept. */
    public synchronized long kept() {
        return kept;
    }

    @Override
    public synchronized String toString() {
        return "DropCounts{kept=" + kept + ", dropped=" + dropped() + ", promptsTruncated=" + promptsTruncated
                + ", responsesTruncated=" + responsesTruncated + "}";
    }
}
