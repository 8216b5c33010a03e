package org.prefixshare.data;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The input formats {@link PreferenceReader} understands. */
public enum PreferenceFormat {
    /** {@code prompt} / {@code chosen} / {@code rejected} strings. */
    PROMPT,
    /** TRL's conversational format: {@code prompt} a list of {role, content}; chosen / rejected message lists. */
    CONVERSATIONAL,
    /** Implicit prompt (Anthropic HH-RLHF): {@code chosen} / {@code rejected} are whole dialogues. */
    IMPLICIT,
    /** Alpaca style: {@code instruction} + optional {@code input} + chosen / rejected, through a prompt template. */
    ALPACA,
    /** N >= 2 ranked responses per prompt: {@code prompt} + {@code responses: [best, ..., worst]}. */
    RANKED;

    /** Parses a format name (case-insensitive); an unknown name lists the valid ones. */
    public static PreferenceFormat parse(String name) {
        for (PreferenceFormat f : values()) {
            if (f.name().equalsIgnoreCase(name.trim())) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown format '" + name + "'; valid: " + Arrays.stream(values())
                .map(f -> f.name().toLowerCase(Locale.ROOT)).collect(Collectors.joining(", ")));
    }
}
