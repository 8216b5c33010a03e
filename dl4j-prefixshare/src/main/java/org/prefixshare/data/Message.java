package org.prefixshare.data;

import java.util.Objects;

/**
 * One chat message ({@code {role, content}}), as in TRL's conversational format.
 *
 * @param role    the speaker ("system", "user", "assistant", ...)
 * @param content the message text
 */
public record Message(String role, String content) {

    public Message {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }
}
