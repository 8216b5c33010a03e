package org.prefixshare.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A tokenised preference example: prompt ids {@code p[0..P-1]} (BOS included when there is one) and, per response
 * (best first), its ids {@code c_r[0..L_r-1]} (EOS included when appended). The paired form of response r is exactly
 * {@code p ++ c_r}; the prefix-shared layout is built from the same ids. Immutable: arrays are copied in and out.
 *
 * @param id             stable global example id
 * @param source         where it came from ("file:line"), for messages
 * @param prompt         prompt ids
 * @param responses      response ids, best first
 * @param boundaryMerges how many responses hit a tokenizer merge across the prompt/response boundary (see
 *                       {@link ExampleTokenizer})
 */
public record TokenizedExample(long id, String source, int[] prompt, List<int[]> responses, int boundaryMerges)
        implements java.io.Serializable {

    public TokenizedExample {
        prompt = prompt.clone();
        List<int[]> rs = new ArrayList<>(responses.size());
        for (int[] r : responses) {
            rs.add(r.clone());
        }
        responses = List.copyOf(rs);
        if (responses.size() < 2) {
            throw new IllegalArgumentException("example " + id + " (" + source + ") needs >= 2 responses, got "
                    + responses.size());
        }
    }

    /** A copy of the prompt ids. */
    @Override
    public int[] prompt() {
        return prompt.clone();
    }

    /** Copies of the response ids. */
    @Override
    public List<int[]> responses() {
        List<int[]> out = new ArrayList<>(responses.size());
        for (int[] r : responses) {
            out.add(r.clone());
        }
        return out;
    }

    /** P. */
    public int promptLength() {
        return prompt.length;
    }

    /** Prompt token i. */
    public int promptToken(int i) {
        return prompt[i];
    }

    /** N. */
    public int responseCount() {
        return responses.size();
    }

    /** L_r. */
    public int responseLength(int r) {
        return responses.get(r).length;
    }

    /** Token i of response r. */
    public int responseToken(int r, int i) {
        return responses.get(r)[i];
    }

    /** Number of scored tokens (labels) of response r: L_r, or L_r - 1 for an empty prompt. */
    public int scoredTokens(int r) {
        return prompt.length == 0 ? responses.get(r).length - 1 : responses.get(r).length;
    }

    /** The paired-format ids of response r: {@code p ++ c_r}. */
    public int[] paired(int r) {
        int[] c = responses.get(r);
        int[] out = Arrays.copyOf(prompt, prompt.length + c.length);
        System.arraycopy(c, 0, out, prompt.length, c.length);
        return out;
    }

    /** Tokens of the paired format: {@code sum_r (P + L_r)}. */
    public long pairedTokens() {
        long n = 0;
        for (int[] r : responses) {
            n += prompt.length + r.length;
        }
        return n;
    }

    /** Tokens of the prefix-shared document: {@code P - 1 + sum_r (1 + L_r)}, or {@code sum_r L_r} when P = 0. */
    public int sharedLength() {
        int n = prompt.length == 0 ? 0 : prompt.length - 1;
        for (int[] r : responses) {
            n += r.length + (prompt.length == 0 ? 0 : 1);
        }
        return n;
    }

    /** P + the longest L_r (what maxLength bounds). */
    public int longestPairedLength() {
        int m = 0;
        for (int[] r : responses) {
            m = Math.max(m, r.length);
        }
        return prompt.length + m;
    }

    /** A copy with other ids (after truncation). */
    public TokenizedExample withIds(int[] newPrompt, List<int[]> newResponses) {
        return new TokenizedExample(id, source, newPrompt, newResponses, boundaryMerges);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof TokenizedExample t)) {
            return false;
        }
        if (t.id != id || t.boundaryMerges != boundaryMerges || !t.source.equals(source)
                || !Arrays.equals(t.prompt, prompt) || t.responses.size() != responses.size()) {
            return false;
        }
        for (int r = 0; r < responses.size(); r++) {
            if (!Arrays.equals(t.responses.get(r), responses.get(r))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = Long.hashCode(id) * 31 + Arrays.hashCode(prompt);
        for (int[] r : responses) {
            h = h * 31 + Arrays.hashCode(r);
        }
        return h;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("TokenizedExample{id=").append(id).append(", ").append(source)
                .append(", P=").append(prompt.length).append(", L=[");
        for (int r = 0; r < responses.size(); r++) {
            sb.append(r == 0 ? "" : ",").append(responses.get(r).length);
        }
        return sb.append("]}").toString();
    }
}
