package org.prefixshare.layout;

import org.prefixshare.data.TokenizedExample;

import java.util.ArrayList;
import java.util.List;

/**
 * Builds the paired format of one example: each (prompt, response r) is its own sequence with one node, tokens
 * {@code p ++ c_r} at positions {@code 0..P+L_r-1}, labels = next token at positions {@code P-1 .. P+L_r-2} (the
 * predictions of {@code c_r}; from 0 when P = 0), else -1. Under the ancestor rule a one-node sequence is plain causal
 * attention, so the same model code runs both formats. This is the baseline and the test oracle.
 */
public final class PairedLayoutBuilder {

    private PairedLayoutBuilder() {
    }

    /** Response r as one segment (one node, one sequence). */
    public static Segment sequence(TokenizedExample e, int r) {
        int[] tok = e.paired(r);
        int len = tok.length;
        int p = e.promptLength();
        int[] pos = new int[len];
        int[] nd = new int[len];
        int[] se = new int[len];
        int[] lb = new int[len];
        int[] sq = new int[len];
        int first = Math.max(p - 1, 0);
        for (int t = 0; t < len; t++) {
            pos[t] = t;
            boolean scored = t >= first && t < len - 1;
            lb[t] = scored ? tok[t + 1] : -1;
            sq[t] = scored ? 0 : -1;
        }
        return new Segment(e.id(), tok, pos, nd, se, lb, sq, 1,
                List.of(new SequenceInfo(e.id(), r, e.scoredTokens(r), Double.NaN)));
    }

    /** All responses, one segment each (rank order). */
    public static List<Segment> sequences(TokenizedExample e) {
        List<Segment> out = new ArrayList<>(e.responseCount());
        for (int r = 0; r < e.responseCount(); r++) {
            out.add(sequence(e, r));
        }
        return out;
    }

    /** All responses side by side in one segment (the "paired + packed" baseline keeps an example in one row). */
    public static Segment packed(TokenizedExample e) {
        return Segment.concat(sequences(e));
    }
}
