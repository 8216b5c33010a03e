package org.prefixshare.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TimingTest {

    @Test
    void pairedSpeedupCancelsRoundSizesAndDropsOneSidedOutliers() {
        // Rounds of different sizes, the faster side 1.25x in each; round 2 slowed on the baseline side only and
        // round 4 on the faster side only (a page-fault burst, a JIT compilation).
        double[] faster = {400, 800, 200, 1200, 3200, 600, 1000};
        double[] baseline = {500, 1000, 2500, 1500, 2000, 750, 1250};
        assertEquals(1.25, Timing.pairedSpeedup(baseline, faster), 1e-12);
        // The ratio of the two medians compares different rounds and keeps both disturbances.
        assertEquals(1250.0 / 800.0, Timing.median(baseline) / Timing.median(faster), 1e-12);
    }

    @Test
    void pairedSpeedupNeedsMatchingRounds() {
        assertThrows(IllegalArgumentException.class, () -> Timing.pairedSpeedup(new double[]{1, 2}, new double[]{1}));
        assertThrows(IllegalArgumentException.class, () -> Timing.pairedSpeedup(new double[0], new double[0]));
    }
}
