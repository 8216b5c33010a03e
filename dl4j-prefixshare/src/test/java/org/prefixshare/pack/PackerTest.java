package org.prefixshare.pack;

import org.junit.jupiter.api.Test;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.RandomExamples;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PackerTest {

    @Test
    void firstFitDecreasingNeverSplitsAndFits() {
        Random rnd = new Random(3);
        int n = 500;
        int[] lengths = new int[n];
        int[] order = new int[n];
        long total = 0;
        for (int i = 0; i < n; i++) {
            lengths[i] = 1 + rnd.nextInt(300);
            order[i] = i;
            total += lengths[i];
        }
        List<int[]> bins = Packer.firstFitDecreasing(order, 0, n, lengths, 1024);
        boolean[] seen = new boolean[n];
        for (int[] b : bins) {
            int sum = 0;
            for (int i : b) {
                assertTrue(!seen[i], "item placed twice");
                seen[i] = true;
                sum += lengths[i];
            }
            assertTrue(sum <= 1024);
        }
        for (boolean s : seen) {
            assertTrue(s);
        }
        double eff = total / (bins.size() * 1024.0);
        assertTrue(eff > 0.95, "efficiency " + eff);
    }

    @Test
    void tooLongItemIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Packer.firstFitDecreasing(new int[]{0}, 0, 1, new int[]{10}, 5));
        assertTrue(e.getMessage().contains("10 tokens"), e.getMessage());
    }

    @Test
    void sameSeedSamePlanOtherSeedOtherPlan() {
        List<TokenizedExample> ex = RandomExamples.generate(5, 300, 30, 20);
        PackConfig c = PackConfig.defaults(512, 2, 11).withWindowSize(100);
        EpochPlan a = EpochPlan.build(ex, c, 0);
        EpochPlan b = EpochPlan.build(ex, c, 0);
        EpochPlan other = EpochPlan.build(ex, c.withSeed(12), 0);
        EpochPlan nextEpoch = EpochPlan.build(ex, c, 1);
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            LayoutBatch x = a.materialize(i, ex, c, ReferenceLogps.NONE);
            LayoutBatch y = b.materialize(i, ex, c, ReferenceLogps.NONE);
            assertEquals(x, y);
        }
        assertTrue(!a.materialize(0, ex, c, ReferenceLogps.NONE).equals(
                other.materialize(0, ex, c, ReferenceLogps.NONE)));
        assertTrue(!a.materialize(0, ex, c, ReferenceLogps.NONE).equals(
                nextEpoch.materialize(0, ex, c, ReferenceLogps.NONE)));
    }

    @Test
    void packingEfficiencyOnManySmallDocuments() {
        List<TokenizedExample> ex = RandomExamples.generate(8, 2000, 60, 40);
        PackConfig c = PackConfig.defaults(4096, 4, 1).withWindowSize(0);
        EpochPlan plan = EpochPlan.build(ex, c, 0);
        long used = 0;
        long rowTokens = 0;
        for (int i = 0; i < plan.size(); i++) {
            LayoutBatch b = plan.materialize(i, ex, c, ReferenceLogps.NONE);
            used += b.usedTokens();
            rowTokens += b.rowTokens();
        }
        assertTrue(used / (double) rowTokens > 0.97, "efficiency " + used / (double) rowTokens);
    }
}
