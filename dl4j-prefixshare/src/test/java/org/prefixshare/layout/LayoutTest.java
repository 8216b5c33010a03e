package org.prefixshare.layout;

import org.junit.jupiter.api.Test;
import org.prefixshare.data.TokenizedExample;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LayoutTest {

    private static final TokenizedExample EX = new TokenizedExample(42, "hand", new int[]{10, 11, 12},
            List.of(new int[]{20, 21}, new int[]{30}), 0);

    @Test
    void sharedDocumentByHand() {
        List<SequenceInfo> seqs = new ArrayList<>();
        RowLayout row = RowAssembler.assemble(List.of(SharedLayoutBuilder.build(EX)), 9, 0, 5, seqs);
        String msg = row.describe(9) + row.toAscii();
        assertArrayEquals(new int[]{10, 11, 12, 20, 21, 12, 30, 0, 0}, row.token(), msg);
        assertArrayEquals(new int[]{0, 1, 2, 3, 4, 2, 3, 0, 0}, row.position(), msg);
        assertArrayEquals(new int[]{0, 0, 1, 1, 1, 2, 2, 3, 4}, row.node(), msg);
        assertArrayEquals(new int[]{2, 2, 1, 1, 1, 2, 2, 3, 4}, row.subtreeEnd(), msg);
        assertArrayEquals(new int[]{-1, -1, 20, 21, -1, 30, -1, -1, -1}, row.label(), msg);
        assertArrayEquals(new int[]{-1, -1, 5, 5, -1, 6, -1, -1, -1}, row.seq(), msg);
        assertEquals(7, row.used());
        assertEquals(List.of(new SequenceInfo(42, 0, 2, Double.NaN), new SequenceInfo(42, 1, 1, Double.NaN)), seqs);
        String expectedMask = ""
                + "#........\n"
                + "##.......\n"
                + "###......\n"
                + "####.....\n"
                + "#####....\n"
                + "##...#...\n"
                + "##...##..\n"
                + ".......#.\n"
                + "........#\n";
        assertEquals(expectedMask, row.toAscii(), msg);
        assertEquals((1 + 2 + 3 + 4 + 5 + 3 + 4 + 1 + 1) / 81.0, row.visibleFraction(), 1e-12);
    }

    @Test
    void pairedSequenceByHand() {
        RowLayout r0 = PairedLayoutBuilder.sequence(EX, 0).toRow();
        assertArrayEquals(new int[]{10, 11, 12, 20, 21}, r0.token());
        assertArrayEquals(new int[]{0, 1, 2, 3, 4}, r0.position());
        assertArrayEquals(new int[]{0, 0, 0, 0, 0}, r0.node());
        assertArrayEquals(new int[]{0, 0, 0, 0, 0}, r0.subtreeEnd());
        assertArrayEquals(new int[]{-1, -1, 20, 21, -1}, r0.label());
        assertArrayEquals(new int[]{-1, -1, 0, 0, -1}, r0.seq());
        assertEquals("#....\n##...\n###..\n####.\n#####\n", r0.toAscii());
        RowLayout both = PairedLayoutBuilder.packed(EX).toRow();
        assertArrayEquals(new int[]{0, 0, 0, 0, 0, 1, 1, 1, 1}, both.node());
        assertArrayEquals(new int[]{-1, -1, 0, 0, -1, -1, -1, 1, -1}, both.seq());
    }

    @Test
    void emptyAndOneTokenPrompts() {
        TokenizedExample empty = new TokenizedExample(1, "e", new int[0],
                List.of(new int[]{20, 21, 22}, new int[]{30, 31}), 0);
        RowLayout r = SharedLayoutBuilder.build(empty).toRow();
        assertArrayEquals(new int[]{20, 21, 22, 30, 31}, r.token());
        assertArrayEquals(new int[]{0, 1, 2, 0, 1}, r.position());
        assertArrayEquals(new int[]{1, 1, 1, 2, 2}, r.node(), "the empty prompt node keeps index 0");
        assertArrayEquals(new int[]{21, 22, -1, 31, -1}, r.label());
        assertArrayEquals(new int[]{0, 0, -1, 1, -1}, r.seq());
        assertEquals(2, empty.scoredTokens(0));

        TokenizedExample one = new TokenizedExample(2, "o", new int[]{9},
                List.of(new int[]{20}, new int[]{30, 31}), 0);
        RowLayout s = SharedLayoutBuilder.build(one).toRow();
        assertArrayEquals(new int[]{9, 20, 9, 30, 31}, s.token());
        assertArrayEquals(new int[]{0, 1, 0, 1, 2}, s.position());
        assertArrayEquals(new int[]{1, 1, 2, 2, 2}, s.node());
        assertArrayEquals(new int[]{20, -1, 30, 31, -1}, s.label());
    }

    @Test
    void twoDocumentsUseDisjointNodeIntervals() {
        List<SequenceInfo> seqs = new ArrayList<>();
        RowLayout row = RowAssembler.assemble(List.of(SharedLayoutBuilder.build(EX), SharedLayoutBuilder.build(EX)),
                16, 0, 0, seqs);
        assertArrayEquals(new int[]{0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 7}, row.node());
        assertArrayEquals(new int[]{2, 2, 1, 1, 1, 2, 2, 5, 5, 4, 4, 4, 5, 5, 6, 7}, row.subtreeEnd());
        assertEquals(4, seqs.size());
        for (int q = 7; q < 14; q++) {
            for (int k = 0; k < 7; k++) {
                assertTrue(!row.visible(q, k), "documents must not see each other\n" + row.toAscii());
            }
        }
        LayoutBatch b = new LayoutBatch(List.of(row), seqs);
        Map<LayoutDecoder.SeqKey, LayoutDecoder.Decoded> out = new HashMap<>();
        assertTrue(LayoutDecoder.decode(b, out).stream().anyMatch(p -> p.contains("decoded twice")),
                "the same example twice in one batch is reported");
    }

    @Test
    void recordsAreImmutableAndValidated() {
        int[] tok = {1, 2};
        RowLayout r = new RowLayout(tok, new int[2], new int[2], new int[2], new int[]{-1, -1}, new int[]{-1, -1}, 2);
        tok[0] = 99;
        assertEquals(1, r.token(0));
        r.token()[1] = 99;
        assertEquals(2, r.token(1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new RowLayout(new int[2], new int[3], new int[2], new int[2], new int[2], new int[2], 2));
        assertTrue(e.getMessage().contains("position 3"), e.getMessage());
    }
}
