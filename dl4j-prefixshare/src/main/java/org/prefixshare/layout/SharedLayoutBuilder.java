package org.prefixshare.layout;

import org.prefixshare.data.TokenizedExample;

import java.util.ArrayList;
import java.util.List;

/**
 * Builds the prefix-shared document of one example (DESIGN.md, "The row layout").
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
        int at = 0;
        for (int i = 0; i < p - 1; i++, at++) {
            tok[at] = e.promptToken(i);
            pos[at] = i;
            nd[at] = 0;
            se[at] = n;
            lb[at] = -1;
            sq[at] = -1;
        }
        List<SequenceInfo> seqs = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            int l = e.responseLength(r);
            // branch tokens: [p[P-1]] ++ c_r when P >= 1, else c_r
            int head = p >= 1 ? 1 : 0;
            int blen = head + l;
            int pos0 = p >= 1 ? p - 1 : 0;
            for (int j = 0; j < blen; j++, at++) {
                tok[at] = head == 1 && j == 0 ? e.promptToken(p - 1) : e.responseToken(r, j - head);
                pos[at] = pos0 + j;
                nd[at] = 1 + r;
                se[at] = 1 + r;
                boolean last = j == blen - 1;
                lb[at] = last ? -1 : e.responseToken(r, j + 1 - head);
                sq[at] = last ? -1 : r;
            }
            seqs.add(new SequenceInfo(e.id(), r, e.scoredTokens(r), Double.NaN));
        }
        return new Segment(e.id(), tok, pos, nd, se, lb, sq, n + 1, seqs);
    }
}
