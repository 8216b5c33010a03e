package org.prefixshare.bench.training;

import org.junit.jupiter.api.Test;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.model.DecoderConfig;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdealTest {

    private static TokenizedExample ex(long id, int p, int c1, int c2) {
        return new TokenizedExample(id, "t", new int[p], List.of(new int[c1], new int[c2]), 0);
    }

    @Test
    void tokenIdealOfOneUnpaddedPairIsPairedOverSharedTokens() {
        // P = 64, C = 32, 31: paired rows 96 and 95 -> padded to 128 each; shared document 64 - 1 + 33 + 32 = 128
        List<TokenizedExample> step = List.of(ex(0, 64, 32, 31));
        StepCost b = StepCost.of(ModeBatches.build(step, TrainingMode.B, 256));
        StepCost c = StepCost.of(ModeBatches.build(step, TrainingMode.C, 256));
        assertEquals(2 * 128, b.rowTokens());
        assertEquals(96 + 95, b.usedTokens());
        assertEquals(128, c.rowTokens());
        assertEquals(128, c.usedTokens());
        assertEquals(2.0, Ideal.tokens(b, c), 1e-12);
    }

    @Test
    void fixedStepCostPullsTheExpectedSpeedupTowardsOne() {
        // ours: 100 ms = 20 fixed + 80 work; the baseline's work is 1.5 x 80 = 120 plus its own 20 fixed
        assertEquals(140.0 / 100.0, Ideal.withFixedCost(1.5, 100, 20, 20), 1e-12);
        assertEquals(1.5, Ideal.withFixedCost(1.5, 100, 0, 0), 1e-12);
        // a step that is nearly all fixed cost gains almost nothing from the layout
        assertEquals((29 + 1.5) / 30.0, Ideal.withFixedCost(1.5, 30, 29, 29), 1e-12);
        // each mode's own fixed part: baseline 25, ours 20
        assertEquals((25 + 1.5 * 80) / 100.0, Ideal.withFixedCost(1.5, 100, 20, 25), 1e-12);
        assertTrue(Double.isNaN(Ideal.withFixedCost(1.5, 100, Double.NaN, 20)));
        // a probe that read longer than the steps themselves (tiny steps, noise): no work left to scale
        assertTrue(Double.isNaN(Ideal.withFixedCost(1.5, 30, 41, 16)));
    }

    @Test
    void packedModesPackEveryExampleIntoRowsOfThePackLength() {
        List<TokenizedExample> step = List.of(ex(0, 20, 10, 12), ex(1, 5, 30, 3), ex(2, 40, 8, 8), ex(3, 1, 1, 1));
        LayoutBatch d = ModeBatches.build(step, TrainingMode.D, 64);
        LayoutBatch e = ModeBatches.build(step, TrainingMode.E, 64);
        long shared = step.stream().mapToLong(TokenizedExample::sharedLength).sum();
        long paired = step.stream().mapToLong(TokenizedExample::pairedTokens).sum();
        assertEquals(shared, d.usedTokens());
        assertEquals(paired, e.usedTokens());
        assertEquals(64, d.length());
        assertEquals(64, e.length());
        assertEquals(8, d.sequences().size());
        assertEquals(8, e.sequences().size());
        // first-fit-decreasing: shared documents 43, 39, 57, 4 -> rows {57, 4}, {43}, {39}
        assertEquals(3, d.rows().size());
        assertEquals(Ideal.tokens(StepCost.of(e), StepCost.of(d)), e.rows().size() / 3.0, 1e-12);
    }

    @Test
    void oneRowPackingPutsAStepInOneRowPaddedOnlyToTheNextMultipleOf64() {
        List<TokenizedExample> step = List.of(ex(0, 20, 10, 12), ex(1, 5, 30, 3), ex(2, 40, 8, 8), ex(3, 1, 1, 1));
        LayoutBatch d = ModeBatches.build(step, TrainingMode.D, ModeBatches.ONE_ROW);
        LayoutBatch e = ModeBatches.build(step, TrainingMode.E, ModeBatches.ONE_ROW);
        // shared documents 43 + 39 + 57 + 4 = 143 tokens -> one row of 192;
        // paired sequences 30 + 32 + 35 + 8 + 48 + 48 + 2 + 2 = 205 tokens -> one row of 256
        assertEquals(1, d.rows().size());
        assertEquals(1, e.rows().size());
        assertEquals(143, d.usedTokens());
        assertEquals(205, e.usedTokens());
        assertEquals(192, d.length());
        assertEquals(256, e.length());
        assertEquals(8, d.sequences().size());
        assertEquals(8, e.sequences().size());
        assertEquals(256.0 / 192.0, Ideal.tokens(StepCost.of(e), StepCost.of(d)), 1e-12);
    }

    @Test
    void attentionAwareIdealLiesBelowTheTokenIdealForSharing() {
        // P = 2C: tokens 6C / 4C = 1.5; visible area (2 x (3C)^2 / 2) / (4C^2/2 + 4C^2 + C^2) = 18 / 14
        int c = 64;
        List<TokenizedExample> step = List.of(ex(0, 2 * c + 1, c, c - 1));
        StepCost b = StepCost.of(ModeBatches.build(step, TrainingMode.B, 512));
        StepCost s = StepCost.of(ModeBatches.build(step, TrainingMode.C, 512));
        double area = (double) b.visiblePairs() / s.visiblePairs();
        assertTrue(area < Ideal.tokens(b, s), area + " vs " + Ideal.tokens(b, s));
        DecoderConfig cfg = BenchModels.bench();
        long labels = 2L * c;
        double cost = Ideal.costModel(cfg, b, s, labels);
        assertTrue(cost > area && cost < Ideal.tokens(b, s), cost + " not between " + area + " and "
                + Ideal.tokens(b, s));
        // with attention priced at zero the cost model is the token ratio (up to the labels, same in both)
        assertEquals(Ideal.tokenFlops(cfg) * b.rowTokens() + Ideal.labelFlops(cfg) * labels,
                Ideal.flops(cfg, b, labels) - Ideal.pairFlops(cfg) * b.visiblePairs(), 1e-3);
    }
}
