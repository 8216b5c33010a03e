package org.prefixshare.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Truncation like TRL's DPO trainer: first the prompt is cut to {@code maxPromptLength} keeping its end (a leading
 * BOS is kept in front); then, if prompt + the longest response exceeds {@code maxLength}, every response is cut at
 * its end to {@code maxLength - P}. Examples that still do not fit are dropped and counted by {@link DropReason},
 * never silently: a prompt that leaves no room, a response without a scored token, a shared document longer than
 * {@code maxDocumentLength}.
 */
public final class Truncator {

    private final TruncationConfig config;
    private final int bosId;

    /** @param bosId the tokenizer's BOS id (-1 when none), kept in front of a truncated prompt */
    public Truncator(TruncationConfig config, int bosId) {
        this.config = config;
        this.bosId = bosId;
    }

    /** The truncated example, or empty when dropped (the reason is counted in {@code counts}). */
    public Optional<TokenizedExample> apply(TokenizedExample e, DropCounts counts) {
        int[] p = e.prompt();
        List<int[]> rs = e.responses();
        boolean changed = false;
        int maxP = config.maxPromptLength();
        if (maxP > 0 && p.length > maxP) {
            boolean keepBos = bosId >= 0 && p[0] == bosId && maxP >= 2;
            int[] q = new int[maxP];
            int head = keepBos ? 1 : 0;
            if (keepBos) {
                q[0] = bosId;
            }
            System.arraycopy(p, p.length - (maxP - head), q, head, maxP - head);
            p = q;
            counts.promptTruncated();
            changed = true;
        }
        int maxL = config.maxLength();
        if (maxL > 0) {
            int room = maxL - p.length;
            if (room < 1) {
                counts.drop(DropReason.PROMPT_TOO_LONG);
                return Optional.empty();
            }
            List<int[]> cut = new ArrayList<>(rs.size());
            for (int[] r : rs) {
                if (r.length > room) {
                    cut.add(Arrays.copyOf(r, room));
                    counts.responseTruncated();
                    changed = true;
                } else {
                    cut.add(r);
                }
            }
            rs = cut;
        }
        TokenizedExample out = changed ? e.withIds(p, rs) : e;
        for (int r = 0; r < out.responseCount(); r++) {
            if (out.scoredTokens(r) < 1) {
                counts.drop(DropReason.NO_SCORED_TOKENS);
                return Optional.empty();
            }
        }
        if (config.maxDocumentLength() > 0 && out.sharedLength() > config.maxDocumentLength()) {
            counts.drop(DropReason.DOCUMENT_TOO_LONG);
            return Optional.empty();
        }
        counts.keep();
        return Optional.of(out);
    }

    /** Applies to all, keeping order. */
    public List<TokenizedExample> applyAll(List<TokenizedExample> examples, DropCounts counts) {
        List<TokenizedExample> out = new ArrayList<>(examples.size());
        for (TokenizedExample e : examples) {
            apply(e, counts).ifPresent(out::add);
        }
        return out;
    }
}
