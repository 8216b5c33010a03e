package org.prefixshare.layout;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.pack.EpochPlan;
import org.prefixshare.pack.LayoutFormat;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.ReferenceLogps;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Property tests over 1,200 random examples (random lengths, empty and one-token prompts, 2 to 4 responses), with
 * packing on and off: packed rows decode exactly to the paired sequences; for every (q, k) of every document the
 * ancestor mask equals the causal mask the paired format implies; positions equal the paired positions.
 */
class LayoutPropertyTest {

    private static final int N = 1200;

    @ParameterizedTest(name = "packing={0}, packLength={1}, rows/batch={2}, maxPrompt={3}, maxResponse={4}")
    @CsvSource({"true, 256, 3, 40, 24", "false, 256, 4, 40, 24", "true, 97, 1, 16, 10"})
    void sharedRowsEqualPairedSequences(boolean packing, int packLength, int rowsPerBatch, int maxPrompt,
                                        int maxResponse) {
        List<TokenizedExample> all = RandomExamples.generate(1234 + packLength, N, maxPrompt, maxResponse);
        List<TokenizedExample> examples = new ArrayList<>();
        for (TokenizedExample e : all) {
            if (e.sharedLength() <= packLength && e.pairedTokens() <= packLength) {
                examples.add(e);
            }
        }
        assertTrue(examples.size() >= 1000, "enough examples: " + examples.size());
        PackConfig c = PackConfig.defaults(packLength, rowsPerBatch, 7).withPacking(packing).withWindowSize(300);
        EpochPlan plan = EpochPlan.build(examples, c, 0);
        Map<LayoutDecoder.SeqKey, LayoutDecoder.Decoded> shared = new HashMap<>();
        int docsSeen = 0;
        for (int b = 0; b < plan.size(); b++) {
            LayoutBatch batch = plan.materialize(b, examples, c, ReferenceLogps.NONE);
            List<String> problems = LayoutDecoder.decode(batch, shared);
            assertTrue(problems.isEmpty(), problems.toString());
            for (int r = 0; r < batch.rows().size(); r++) {
                RowLayout row = batch.rows().get(r);
                int[] docs = plan.batch(b).get(r).docs();
                checkMaskAgainstPaired(row, docs, examples);
                docsSeen += docs.length;
                if (packing) {
                    assertEquals(packLength, row.length());
                } else {
                    assertEquals(1, docs.length);
                    assertEquals(0, row.length() % 64);
                    assertTrue(row.length() - 64 < maxUsed(batch), "padded to the batch's longest, rounded to 64");
                }
            }
        }
        assertEquals(examples.size(), docsSeen, "every document exactly once");

        // independent oracle: decoded == p ++ c_r, with the scored positions of the paired format
        for (TokenizedExample e : examples) {
            for (int r = 0; r < e.responseCount(); r++) {
                LayoutDecoder.Decoded d = shared.get(new LayoutDecoder.SeqKey(e.id(), r));
                assertArrayEquals(e.paired(r), d.tokens(), e + " rank " + r);
                int first = Math.max(e.promptLength() - 1, 0);
                int[] scored = new int[e.paired(r).length - 1 - first];
                for (int i = 0; i < scored.length; i++) {
                    scored[i] = first + i;
                }
                assertArrayEquals(scored, d.scoredPositions(), e + " rank " + r);
            }
        }

        // the paired iterator's rows decode to the same sequences (packed and not)
        for (boolean pairedPacking : new boolean[]{true, false}) {
            PackConfig pc = c.withFormat(LayoutFormat.PAIRED).withPacking(pairedPacking);
            EpochPlan pp = EpochPlan.build(examples, pc, 0);
            Map<LayoutDecoder.SeqKey, LayoutDecoder.Decoded> paired = new HashMap<>();
            for (int b = 0; b < pp.size(); b++) {
                LayoutBatch batch = pp.materialize(b, examples, pc, ReferenceLogps.NONE);
                List<String> problems = LayoutDecoder.decode(batch, paired);
                assertTrue(problems.isEmpty(), problems.toString());
                for (RowLayout row : batch.rows()) {
                    checkPairedRowIsCausalPerSequence(row);
                }
            }
            List<String> diff = LayoutDecoder.compare(shared, paired, 5);
            assertTrue(diff.isEmpty(), diff.toString());
        }
    }

    private static int maxUsed(LayoutBatch b) {
        return b.rows().stream().mapToInt(RowLayout::used).max().orElse(0);
    }

    /**
     * For every query of every document: the visible keys are exactly the tokens of its paired causal prefix (the
     * prompt node + its own branch up to itself), mapped one-to-one onto paired positions 0..position[q], with the
     * paired tokens; nothing of another document or another branch is visible.
     */
    private static void checkMaskAgainstPaired(RowLayout row, int[] docs, List<TokenizedExample> examples) {
        int off = 0;
        for (int d : docs) {
            TokenizedExample e = examples.get(d);
            int p = e.promptLength();
            int promptNode = Math.max(p - 1, 0);
            int head = p >= 1 ? 1 : 0;
            int len = e.sharedLength();
            // owner branch of each doc token: -1 prompt node, else r
            int[] branch = new int[len];
            int at = 0;
            for (int i = 0; i < promptNode; i++) {
                branch[at++] = -1;
            }
            for (int r = 0; r < e.responseCount(); r++) {
                for (int j = 0; j < e.responseLength(r) + head; j++) {
                    branch[at++] = r;
                }
            }
            for (int qi = 0; qi < len; qi++) {
                int q = off + qi;
                int br = branch[qi];
                int[] pairedSeq = e.paired(Math.max(br, 0));
                boolean[] hit = new boolean[row.position(q) + 1];
                for (int k = 0; k < row.length(); k++) {
                    boolean vis = row.visible(q, k);
                    int ki = k - off;
                    boolean inDoc = ki >= 0 && ki < len;
                    boolean onPath = inDoc && k <= q && (branch[ki] == -1 || branch[ki] == br);
                    if (vis != onPath) {
                        fail("doc " + e + " q=" + q + " k=" + k + ": visible=" + vis + " but paired prefix says "
                                + onPath + "\n" + row.describe(off + len) + row.toAscii(off + len));
                    }
                    if (vis) {
                        int pos = row.position(k);
                        if (pos > row.position(q) || hit[pos]) {
                            fail("q=" + q + " k=" + k + ": position " + pos + " outside / repeated in the prefix 0.."
                                    + row.position(q));
                        }
                        hit[pos] = true;
                        if (pairedSeq[pos] != row.token(k)) {
                            fail("q=" + q + " k=" + k + ": token " + row.token(k) + " but paired has "
                                    + pairedSeq[pos] + " at position " + pos);
                        }
                    }
                }
                for (int i = 0; i < hit.length; i++) {
                    if (!hit[i]) {
                        fail("q=" + q + ": paired position " + i + " not visible\n" + row.toAscii(off + len));
                    }
                }
            }
            off += len;
        }
        // padding: each token a node of its own, seeing only itself
        for (int q = off; q < row.length(); q++) {
            for (int k = 0; k < row.length(); k++) {
                assertEquals(k == q, row.visible(q, k), "padding q=" + q + " k=" + k);
            }
            assertEquals(-1, row.label(q));
            assertEquals(-1, row.seq(q));
        }
        assertEquals(off, row.used());
    }

    private static void checkPairedRowIsCausalPerSequence(RowLayout row) {
        for (int q = 0; q < row.length(); q++) {
            for (int k = 0; k < row.length(); k++) {
                boolean same = row.node(k) == row.node(q);
                assertEquals(same && k <= q, row.visible(q, k), "paired q=" + q + " k=" + k);
            }
        }
        int[] pos = row.position();
        for (int t = 1; t < row.used(); t++) {
            if (row.node(t) == row.node(t - 1)) {
                assertEquals(pos[t - 1] + 1, pos[t], Arrays.toString(pos));
            } else {
                assertEquals(0, pos[t]);
            }
        }
    }
}
