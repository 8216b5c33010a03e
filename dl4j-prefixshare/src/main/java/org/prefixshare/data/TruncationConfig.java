package org.prefixshare.data;

/**
 * TRL-like truncation limits (0 = no limit).
 *
 * @param maxLength         bound on prompt + the longest response (TRL's {@code max_length}); responses are cut at
 *                          their end to fit
 * @param maxPromptLength   bound on the prompt (TRL's {@code max_prompt_length}); the prompt keeps its end (and its
 *                          BOS, when it starts with one)
 * @param maxDocumentLength bound on the prefix-shared document (the packed row length); longer examples are dropped
 */
public record TruncationConfig(int maxLength, int maxPromptLength, int maxDocumentLength) {

    public TruncationConfig {
        if (maxLength < 0 || maxPromptLength < 0 || maxDocumentLength < 0) {
            throw new IllegalArgumentException("truncation limits must be >= 0 (0 = none), got maxLength="
                    + maxLength + ", maxPromptLength=" + maxPromptLength + ", maxDocumentLength=" + maxDocumentLength);
        }
        if (maxLength > 0 && maxPromptLength >= maxLength) {
            throw new IllegalArgumentException("maxPromptLength (" + maxPromptLength + ") must be < maxLength ("
                    + maxLength + ") to leave room for the responses");
        }
    }

    /** No limits. */
    public static TruncationConfig none() {
        return new TruncationConfig(0, 0, 0);
    }
}
