package org.prefixshare.bench;

import org.junit.jupiter.api.Test;
import org.prefixshare.ops.attention.AncestorMask;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionSweepTest {

    /** Visible (query, key) pairs of a causal run of n tokens. */
    private static long causal(long n) {
        return n * (n + 1) / 2;
    }

    @Test
    void sweepRowsHaveThePairedAndSharedVisibleAreas() {
        int p = 48;
        int c = 20;
        int[][] paired = BenchLayouts.pairedRow(p, c);
        int[][] shared = BenchLayouts.sharedRow(p, c);
        assertEquals(p + c, paired[0].length);
        assertEquals(p + 2 * c, shared[0].length);
        assertEquals(causal(p + c), AncestorMask.visiblePairs(paired[0], paired[1]));
        // the prompt once; each response sees the prompt and itself, never the other response
        assertEquals(causal(p) + 2 * ((long) c * p + causal(c)), AncestorMask.visiblePairs(shared[0], shared[1]));
    }

    @Test
    void sweepCellsCarryTheGridTheIdealAndTheirRounds() {
        AttentionBenchmark bench = new AttentionBenchmark(true, line -> { });
        List<AttentionBenchmark.SweepCase> cells = bench.sweep(new int[]{32}, new double[]{1, 4}, 0);
        assertEquals(2, cells.size());
        for (AttentionBenchmark.SweepCase cell : cells) {
            int c = cell.completion();
            assertEquals(Math.round(32 / cell.ratio()), c);
            double ideal = 2.0 * causal(32 + c) / (causal(32) + 2 * (32L * c + causal(c)));
            assertEquals(ideal, cell.ideal(), 1e-12);
            assertTrue(cell.rounds() >= 9, "at least 9 timed rounds, got " + cell.rounds());
            assertTrue(cell.paired_fwdbwd_ms() > 0 && cell.shared_fwdbwd_ms() > 0);
            assertEquals(cell.paired_fwdbwd_ms() / cell.shared_fwdbwd_ms(), cell.speedup(), 1e-12);
        }
    }
}
