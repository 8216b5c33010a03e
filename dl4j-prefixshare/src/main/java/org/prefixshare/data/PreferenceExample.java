package org.prefixshare.data;

import java.util.List;

/**
 * One preference example as read from a file: a prompt with {@code N >= 2} responses ranked best first
 * (rank 0 = chosen, rank 1 = rejected, ...).
 *
 * @param id        stable global id: the 0-based index of the record in its file (skipped records keep their index)
 * @param source    file name the record came from
 * @param line      1-based line where the record starts
 * @param prompt    the prompt (text or messages; may be empty text for an empty prompt)
 * @param responses the responses, best first
 */
public record PreferenceExample(long id, String source, long line, Content prompt, List<Content> responses) {

    public PreferenceExample {
        responses = List.copyOf(responses);
        if (responses.size() < 2) {
            throw new IllegalArgumentException("a preference example needs >= 2 responses, got " + responses.size()
                    + " (" + source + ":" + line + ")");
        }
    }

    /** Whether two responses are identical (a triple with chosen == rejected carries no preference signal). */
    public boolean hasIdenticalResponses() {
        for (int i = 0; i < responses.size(); i++) {
            for (int j = i + 1; j < responses.size(); j++) {
                if (responses.get(i).equals(responses.get(j))) {
                    return true;
                }
            }
        }
        return false;
    }
}
