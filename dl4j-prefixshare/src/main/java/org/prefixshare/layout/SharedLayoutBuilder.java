package org.prefixshare.layout;

import org.prefixshare.data.TokenizedExample;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Builds the prefix-shared document of one example (docs/design.md, "The row layout").
 *
 * <p>The prompt node (node 0, subtree end N) holds {@code p[0..P-2]} at positions {@code 0..P-2}, unscored. Each
 * response r is a branch (node {@code 1 + r}, subtree end {@code 1 + r}) holding {@code [p[P-1], c_r[0..L_r-1]]} at
 * positions {@code P-1 .. P-1+L_r}; its labels are the next token in the branch ({@code p[P-1] -> c_r[0]},
 * {@code c_r[i] -> c_r[i+1]}, last -> -1) and {@code seq = r} on every labelled token. The prompt's last token thus
 * moves into each branch, so every scored prediction is made inside its own branch and each branch sees exactly what
 * the paired format sees. An empty prompt leaves the prompt node empty and each branch is just {@code c_r} (its first
 * token unscored); a one-token prompt leaves the prompt node empty and each branch starts with {@code p[0]}.
 */
public final class SharedLayoutBuilder {

    private SharedLayoutBuilder() {
    }

    /** The example's document as one segment (N + 1 nodes, N sequences). */
    public static Segment build(TokenizedExample e) {
        int p = e.promptLength();
        int n = e.responseCount();
        int len = e.sharedLength();
        int[] tok = new int[len];
        int[] pos = new int[len];
        int[] nd = new int[len];
        int[] se = new int[len];
        int[] lb = new int[len];
        int[] sq = new int[len];
        int[] prompt = e.prompt();
        Arrays.fill(se, 0, Math.max(p - 1, 0), n);
        Arrays.fill(lb, 0, Math.max(p - 1, 0), -1);
        Arrays.fill(sq, 0, Math.max(p - 1, 0), -1);
        int at = Math.max(p - 1, 0);
        System.arraycopy(prompt, 0, tok, 0, at);
        for (int i = 0; i < at; i++) {
            pos[i] = i;
        }
        List<int[]> responses = e.responses();
        List<SequenceInfo> seqs = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            int[] c = responses.get(r);
            int l = c.length;
            // branch tokens: [p[P-1]] ++ c_r when P >= 1, else c_r
            int head = p >= 1 ? 1 : 0;
            int blen = head + l;
            int pos0 = p >= 1 ? p - 1 : 0;
            if (head == 1) {
                tok[at] = prompt[p - 1];
            }
            System.arraycopy(c, 0, tok, at + head, l);
            for (int j = 0; j < blen; j++, at++) {
                pos[at] = pos0 + j;
                nd[at] = 1 + r;
                se[at] = 1 + r;
                boolean last = j == blen - 1;
                lb[at] = last ? -1 : c[j + 1 - head];
                sq[at] = last ? -1 : r;
            }
            seqs.add(new SequenceInfo(e.id(), r, e.scoredTokens(r), Double.NaN));
        }
        return new Segment(e.id(), tok, pos, nd, se, lb, sq, n + 1, seqs);
    }
}
