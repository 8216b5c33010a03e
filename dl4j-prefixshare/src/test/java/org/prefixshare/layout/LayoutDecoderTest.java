package org.prefixshare.layout;

import org.junit.jupiter.api.Test;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.pack.EpochPlan;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.ReferenceLogps;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link LayoutDecoder#decode} (which walks runs of equal (node, subtreeEnd)) gives the same sequences and the same
 * problems, in the same order, as the plain definition that checks {@link RowLayout#visible} for every key, on
 * valid batches and on batches with random corruptions of every array.
 */
class LayoutDecoderTest {

    @Test
    void sameAsPerKeyDefinitionOnValidAndCorruptedRows() {
        List<TokenizedExample> examples = RandomExamples.generate(99, 400, 30, 20);
        PackConfig c = PackConfig.defaults(256, 3, 5).withWindowSize(100);
        EpochPlan plan = EpochPlan.build(examples, c, 0);
        Random rnd = new Random(3);
        int withProblems = 0;
        for (int b = 0; b < plan.size(); b++) {
            LayoutBatch batch = plan.materialize(b, examples, c, ReferenceLogps.NONE);
            LayoutBatch bad = b % 4 == 0 ? batch : corrupt(batch, rnd);
            Map<LayoutDecoder.SeqKey, LayoutDecoder.Decoded> fast = new HashMap<>();
            Map<LayoutDecoder.SeqKey, LayoutDecoder.Decoded> slow = new HashMap<>();
            List<String> fastProblems = LayoutDecoder.decode(bad, fast);
            List<String> slowProblems = reference(bad, slow);
            assertEquals(slowProblems, fastProblems, "batch " + b);
            assertEquals(slow, fast, "batch " + b);
            withProblems += fastProblems.isEmpty() ? 0 : 1;
        }
        assertTrue(withProblems > plan.size() / 2, "corruptions found: " + withProblems + " of " + plan.size());
    }

    private static LayoutBatch corrupt(LayoutBatch batch, Random rnd) {
        List<RowLayout> rows = new ArrayList<>();
        for (RowLayout r : batch.rows()) {
            int[][] a = {r.token(), r.position(), r.node(), r.subtreeEnd(), r.label(), r.seq()};
            for (int k = rnd.nextInt(4); k > 0; k--) {
                int which = rnd.nextInt(a.length);
                int t = rnd.nextInt(Math.max(1, r.used()));
                a[which][t] = which >= 4 ? rnd.nextInt(12) - 1 : Math.max(0, a[which][t] + rnd.nextInt(5) - 2);
            }
            rows.add(new RowLayout(a[0], a[1], a[2], a[3], a[4], a[5], r.used()));
        }
        return new LayoutBatch(rows, batch.sequences());
    }

    /** The decoder by its definition: every key k <= q checked with {@link RowLayout#visible}. */
    private static List<String> reference(LayoutBatch batch, Map<LayoutDecoder.SeqKey, LayoutDecoder.Decoded> out) {
        List<String> problems = new ArrayList<>();
        int nSeq = batch.sequences().size();
        boolean[] seen = new boolean[nSeq];
        for (int ri = 0; ri < batch.rows().size(); ri++) {
            RowLayout row = batch.rows().get(ri);
            int[] last = new int[nSeq];
            int[] count = new int[nSeq];
            Arrays.fill(last, -1);
            for (int q = 0; q < row.length(); q++) {
                int s = row.seq(q);
                if (s >= 0) {
                    if (s >= nSeq) {
                        problems.add("row " + ri + " t=" + q + ": seq " + s + " outside the table of " + nSeq);
                        continue;
                    }
                    last[s] = q;
                    count[s]++;
                    if (row.label(q) < 0) {
                        problems.add("row " + ri + " t=" + q + ": seq " + s + " but no label");
                    }
                } else if (row.label(q) >= 0) {
                    problems.add("row " + ri + " t=" + q + ": label " + row.label(q) + " without a seq");
                }
            }
            for (int s = 0; s < nSeq; s++) {
                if (last[s] < 0) {
                    continue;
                }
                if (seen[s]) {
                    problems.add("seq " + s + " appears in more than one row");
                }
                seen[s] = true;
                int q = last[s];
                int[] toks = new int[q + 2];
                int[] scored = new int[count[s]];
                int[] scoredLabel = new int[count[s]];
                int m = 0;
                int c = 0;
                for (int k = 0; k <= q; k++) {
                    boolean vis = row.visible(q, k);
                    if (vis) {
                        if (row.position(k) != m) {
                            problems.add("row " + ri + " seq " + s + ": visible key t=" + k + " has position "
                                    + row.position(k) + ", expected " + m);
                        }
                        toks[m++] = row.token(k);
                    }
                    if (row.seq(k) == s) {
                        if (!vis) {
                            problems.add("row " + ri + " seq " + s + ": scored token t=" + k
                                    + " is not on the path of the sequence's last token t=" + q);
                            continue;
                        }
                        scored[c] = row.position(k);
                        scoredLabel[c++] = row.label(k);
                    }
                }
                toks[m++] = row.label(q);
                toks = Arrays.copyOf(toks, m);
                for (int i = 0; i < c; i++) {
                    int p = scored[i];
                    if (p + 1 >= toks.length || toks[p + 1] != scoredLabel[i]) {
                        problems.add("row " + ri + " seq " + s + ": label at position " + p + " ("
                                + scoredLabel[i] + ") is not the next token of the sequence");
                    }
                }
                SequenceInfo info = batch.sequences().get(s);
                if (info.tokenCount() != count[s]) {
                    problems.add("seq " + s + ": table says " + info.tokenCount() + " tokens, row has " + count[s]);
                }
                LayoutDecoder.Decoded prev = out.put(new LayoutDecoder.SeqKey(info.exampleId(), info.rank()),
                        new LayoutDecoder.Decoded(toks, Arrays.copyOf(scored, c), info.tokenCount()));
                if (prev != null) {
                    problems.add("example " + info.exampleId() + " rank " + info.rank() + " decoded twice");
                }
            }
        }
        for (int s = 0; s < nSeq; s++) {
            if (!seen[s]) {
                problems.add("seq " + s + " " + batch.sequences().get(s) + " has no scored token in any row");
            }
        }
        return problems;
    }
}
