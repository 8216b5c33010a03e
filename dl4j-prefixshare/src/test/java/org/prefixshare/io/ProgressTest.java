package org.prefixshare.io;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ProgressTest {

    @Test
    void linesAreRateLimitedAndSayElapsedAndRemaining() {
        long[] now = {0};
        List<String> lines = new ArrayList<>();
        Progress p = new Progress("bench training", 10, lines::add, 10, () -> now[0]);
        p.status("preparing (b)");
        assertEquals(List.of("bench training: preparing (b) | 0% | 0s elapsed"), lines);
        now[0] = 5_000_000_000L;
        p.advance(2, "step 2/10");
        assertEquals(1, lines.size(), "within the interval: no line");
        now[0] = 20_000_000_000L;
        p.advance(2, "step 4/10");
        assertEquals("bench training: step 4/10 | 40% | 20s elapsed, ~30s left", lines.get(1));
        now[0] = 21_000_000_000L;
        p.advance(6, "step 10/10");
        assertEquals("bench training: step 10/10 | 100% | 21s elapsed", lines.get(2), "the last always prints");
    }

    @Test
    void aShortJobCanStayQuiet() {
        long[] now = {0};
        List<String> lines = new ArrayList<>();
        Progress p = new Progress("reference log-probs", 3, lines::add, 30, () -> now[0]).quietWhenShort();
        p.advance(1, "batch 1 of 3");
        now[0] = 2_000_000_000L;
        p.advance(2, "batch 3 of 3");
        assertEquals(List.of(), lines);
        Progress slow = new Progress("reference log-probs", 3, lines::add, 30, () -> now[0]).quietWhenShort();
        now[0] = 40_000_000_000L;
        slow.advance(1, "batch 1 of 3");
        slow.advance(2, "batch 3 of 3");
        assertEquals(2, lines.size(), lines.toString());
    }

    @Test
    void durations() {
        assertEquals("59s", Progress.duration(59.4));
        assertEquals("3m05s", Progress.duration(185));
        assertEquals("2h04m", Progress.duration(2 * 3600 + 4 * 60 + 7));
    }
}
