package org.prefixshare.data;

import java.util.Locale;

/** Why a tokenised example was dropped by {@link Truncator}. The lower-case name is the counter key. */
public enum DropReason {
    /** The (truncated) prompt leaves no room for a response token within maxLength. */
    PROMPT_TOO_LONG,
    /** A response has no scored token (empty prompt and a one-token response). */
    NO_SCORED_TOKENS,
    /** The prefix-shared document is longer than a packed row (packLength). */
    DOCUMENT_TOO_LONG;

    /** The counter key ("prompt_too_long", ...). */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }
}
