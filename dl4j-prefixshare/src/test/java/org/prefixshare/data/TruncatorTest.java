package org.prefixshare.data;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TruncatorTest {

    private static TokenizedExample ex(int[] p, int[]... rs) {
        return new TokenizedExample(1, "t", p, List.of(rs), 0);
    }

    private static int[] seq(int from, int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = from + i;
        }
        return a;
    }

    @Test
    void promptKeepsItsEndAndBos() {
        DropCounts c = new DropCounts();
        int[] p = seq(100, 10);
        p[0] = 1;
        TokenizedExample t = new Truncator(new TruncationConfig(0, 4, 0), 1).apply(ex(p, seq(5, 3), seq(7, 2)), c)
                .orElseThrow();
        assertArrayEquals(new int[]{1, 107, 108, 109}, t.prompt());
        assertEquals(1, c.promptsTruncated());
        TokenizedExample u = new Truncator(new TruncationConfig(0, 4, 0), -1).apply(ex(seq(100, 10), seq(5, 3),
                seq(7, 2)), c).orElseThrow();
        assertArrayEquals(new int[]{106, 107, 108, 109}, u.prompt());
    }

    @Test
    void responsesCutAtTheirEnd() {
        DropCounts c = new DropCounts();
        TokenizedExample t = new Truncator(new TruncationConfig(8, 0, 0), -1)
                .apply(ex(seq(100, 5), seq(10, 6), seq(20, 2)), c).orElseThrow();
        assertArrayEquals(seq(10, 3), t.responses().get(0));
        assertArrayEquals(seq(20, 2), t.responses().get(1));
        assertEquals(8, t.longestPairedLength());
        assertEquals(1, c.responsesTruncated());
        assertEquals(0, c.droppedTotal());
    }

    @Test
    void dropsAreCountedByReason() {
        DropCounts c = new DropCounts();
        Truncator tr = new Truncator(new TruncationConfig(8, 0, 12), -1);
        assertEquals(Optional.empty(), tr.apply(ex(seq(100, 8), seq(1, 2), seq(1, 2)), c));
        assertEquals(Optional.empty(), tr.apply(ex(new int[0], seq(1, 1), seq(1, 3)), c));
        assertEquals(Optional.empty(), tr.apply(ex(seq(100, 4), seq(1, 4), seq(1, 4), seq(1, 4)), c));
        assertTrue(tr.apply(ex(seq(100, 4), seq(1, 2), seq(1, 2)), c).isPresent());
        assertEquals(1, c.dropped(DropReason.PROMPT_TOO_LONG));
        assertEquals(1, c.dropped(DropReason.NO_SCORED_TOKENS));
        assertEquals(1, c.dropped(DropReason.DOCUMENT_TOO_LONG));
        assertEquals(3, c.droppedTotal());
        assertEquals(1, c.kept());
        assertEquals(1L, c.dropped().get("prompt_too_long"));
    }

    @Test
    void badConfigSaysWhatItGot() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TruncationConfig(10, 10, 0));
        assertTrue(e.getMessage().contains("maxPromptLength (10)"), e.getMessage());
    }
}
