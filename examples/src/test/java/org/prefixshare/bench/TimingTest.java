package org.prefixshare.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TimingTest {

    @Test
    void totalRatioIsTheThroughputRatioOverRoundsOfDifferentSizes() {
        // Three rounds whose work ratios differ (like training steps packing into 3 rows or 5): the faster side does
        // 1 + 1 + 4 units where the baseline does 1.25 + 1.25 + 8, at 100 ms per unit on both sides.
        double[] faster = {100, 100, 400};
        double[] baseline = {125, 125, 800};
        assertEquals(1050.0 / 600.0, Timing.totalRatio(baseline, faster), 1e-12);
        // The median of the per-round ratios (1.25, 1.25, 2.0) misses the work ratio of the whole run (1.75).
        assertEquals(1.25, Timing.median(new double[]{1.25, 1.25, 2.0}), 1e-12);
    }

    @Test
    void totalRatioNeedsMatchingRounds() {
        assertThrows(IllegalArgumentException.class, () -> Timing.totalRatio(new double[]{1, 2}, new double[]{1}));
        assertThrows(IllegalArgumentException.class, () -> Timing.totalRatio(new double[0], new double[0]));
    }

    @Test
    void medianOfOddAndEvenCounts() {
        assertEquals(2.0, Timing.median(new double[]{3, 1, 2}), 1e-12);
        assertEquals(2.5, Timing.median(new double[]{4, 1, 3, 2}), 1e-12);
    }
}
