package org.prefixshare.data;

import java.util.List;

/**
 * A prompt or a response as read: either plain text or a list of chat messages (conversational format). Exactly
 * one of {@code text} and {@code messages} is non-null.
 *
 * @param text     plain text, or null for conversational content
 * @param messages chat messages, or null for plain text
 */
public record Content(String text, List<Message> messages) {

    public Content {
        if ((text == null) == (messages == null)) {
            throw new IllegalArgumentException("Content needs exactly one of text / messages, got text="
                    + text + ", messages=" + messages);
        }
        messages = messages == null ? null : List.copyOf(messages);
    }

    /** Plain-text content. */
    public static Content text(String text) {
        return new Content(text, null);
    }

    /** Conversational content. */
    public static Content messages(List<Message> messages) {
        return new Content(null, messages);
    }

    /** Whether this is a message list. */
    public boolean isConversational() {
        return messages != null;
    }

    /** The text, or the messages' contents joined by newlines (used for equality checks and logging). */
    public String flatText() {
        if (text != null) {
            return text;
        }
        StringBuilder sb = new StringBuilder();
        for (Message m : messages) {
            if (sb.length() > 0) {
                sb.append('\n');
            }
            sb.append(m.content());
        }
        return sb.toString();
    }
}
