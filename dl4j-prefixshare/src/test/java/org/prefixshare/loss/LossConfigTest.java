package org.prefixshare.loss;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.prefixshare.loss.LossConfig.Term;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Names, config validation, sequence-table pairs and the BCO running mean. */
class LossConfigTest {

    private static String error(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    @ParameterizedTest
    @EnumSource(LossType.class)
    void namesRoundTrip(LossType t) {
        assertEquals(t, LossType.fromName(t.trlName()));
        assertEquals(t, LossType.fromName(" " + t.trlName().toUpperCase() + " "));
        assertEquals(t.trlName(), t.name().toLowerCase());
        assertFalse(t.paper().isBlank());
    }

    @Test
    void unknownNameListsValidNames() {
        String msg = error(() -> LossType.fromName("dpo"));
        assertTrue(msg.contains("'dpo'"), msg);
        for (LossType t : LossType.values()) {
            assertTrue(msg.contains(t.trlName()), msg + " should list " + t.trlName());
        }
        assertTrue(error(() -> LossType.fromName(null)).contains("sigmoid"));
    }

    @Test
    void referenceRequirement() {
        for (LossType t : LossType.values()) {
            boolean free = t == LossType.SFT || t == LossType.SIMPO || t == LossType.CPO || t == LossType.ORPO;
            assertEquals(!free, t.needsReference(), t.toString());
        }
        assertFalse(LossConfig.of(LossType.ORPO).needsReference());
        assertTrue(LossConfig.of(List.of(Term.of(LossType.SIMPO), Term.of(LossType.HINGE))).needsReference());
    }

    @Test
    void parsesWeightedTermList() {
        List<Term> terms = Term.parseList(" sigmoid , sft:0.5,ipo:2");
        assertEquals(List.of(new Term(LossType.SIGMOID, 1), new Term(LossType.SFT, 0.5), new Term(LossType.IPO, 2)),
                terms);
        assertTrue(error(() -> Term.parseList("sigmoid,foo")).contains("apo_zero"));
        assertTrue(error(() -> Term.parseList("sft:half")).contains("not a number"));
        assertTrue(error(() -> Term.parseList("")).contains("Valid loss types"));
    }

    @Test
    void defaultsAreTrls() {
        LossConfig c = LossConfig.defaults();
        assertEquals(0.1, c.beta());
        assertEquals(0.0, c.labelSmoothing());
        assertEquals(0.5, c.simpoGamma());
        assertEquals(1.0, c.cpoAlpha());
        assertEquals(0.05, c.discopopTau());
        assertEquals(List.of(Term.of(LossType.SIGMOID)), c.terms());
        assertEquals(1e-3, LossConfig.of(LossType.EXO_PAIR).exoEpsilon());
        assertEquals(0.2, LossConfig.of(LossType.EXO_PAIR).withLabelSmoothing(0.2).exoEpsilon());
    }

    @Test
    void validationMessagesSayWhatIsWrong() {
        LossConfig d = LossConfig.defaults();
        assertTrue(error(() -> d.withBeta(0)).contains("beta must be finite and > 0, got 0.0"));
        assertTrue(error(() -> d.withBeta(Double.NaN)).contains("beta"));
        assertTrue(error(() -> d.withLabelSmoothing(0.5)).contains("label_smoothing must be in [0, 0.5), got 0.5"));
        assertTrue(error(() -> d.withLabelSmoothing(-0.1)).contains("label_smoothing"));
        assertTrue(error(() -> d.withCpoAlpha(-1)).contains("cpo_alpha"));
        assertTrue(error(() -> d.withDiscopopTau(0)).contains("discopop_tau"));
        assertTrue(error(() -> d.withSimpoGamma(Double.POSITIVE_INFINITY)).contains("simpo_gamma"));
        assertTrue(error(() -> d.withTerms(List.of())).contains("at least one loss term"));
        assertTrue(error(() -> new Term(LossType.SFT, 0)).contains("weight of 'sft' must be finite and > 0, got 0.0"));
        assertTrue(error(() -> d.withTerms(List.of(Term.of(LossType.IPO), new Term(LossType.IPO, 2))))
                .contains("'ipo' is listed twice"));

        String ls = error(() -> LossConfig.of(List.of(Term.of(LossType.HINGE), Term.of(LossType.SFT)))
                .withLabelSmoothing(0.1));
        assertTrue(ls.contains("label_smoothing=0.1 has no effect on [hinge, sft]"), ls);
        assertTrue(ls.contains("sigmoid") && ls.contains("robust") && ls.contains("exo_pair"), ls);
        // allowed as soon as one term uses it
        LossConfig.of(List.of(Term.of(LossType.HINGE), Term.of(LossType.ROBUST))).withLabelSmoothing(0.1);
    }

    @Test
    void pairsFromSequenceTable() {
        PairIndex two = PairIndex.fromSequenceTable(new int[] {0, 0, 1, 1}, new int[] {0, 1, 1, 0});
        assertArrayEquals(new int[] {0, 3}, two.chosen());
        assertArrayEquals(new int[] {1, 2}, two.rejected());

        PairIndex three = PairIndex.fromSequenceTable(new int[] {7, 5, 7, 5, 7}, new int[] {2, 1, 0, 0, 1});
        assertArrayEquals(new int[] {2, 2, 3}, three.chosen());
        assertArrayEquals(new int[] {4, 0, 1}, three.rejected());
        assertEquals(3, three.size());
        assertEquals(5, three.numSequences());
        assertTrue(error(() -> new PairIndex(new int[] {0}, new int[] {3}, 3)).contains("outside the 3 sequences"));

        assertTrue(error(() -> PairIndex.fromSequenceTable(new int[] {0, 0, 1}, new int[] {0, 1, 0}))
                .contains("example 1 has 1 response"));
        assertTrue(error(() -> PairIndex.fromSequenceTable(new int[] {0, 0}, new int[] {0, 0}))
                .contains("rank 0 appears twice"));
        assertTrue(error(() -> PairIndex.fromSequenceTable(new int[] {0, 0}, new int[] {0, 2}))
                .contains("ranks must be 0..1"));
        assertTrue(error(() -> PairIndex.fromSequenceTable(new int[] {0}, new int[] {0, 1}))
                .contains("exampleId has 1 entries but rank has 2"));
        assertTrue(error(() -> PairIndex.fromSequenceTable(new int[] {}, new int[] {})).contains("empty"));
    }

    @Test
    void bcoRunningMeanFollowsTrlRunningMoments() {
        BcoRunningMean m = new BcoRunningMean();
        // first update: count 1e-24 -> mean is (almost exactly) the first value
        assertEquals(0.4, m.update(0.4), 1e-15);
        assertEquals(0.3, m.update(0.2), 1e-15);
        assertEquals(1.6 / 3, m.update(1.0), 1e-15);
        BcoRunningMean r = BcoRunningMean.restore(m.mean(), m.count());
        assertEquals(m.update(0.1), r.update(0.1), 0.0);
        assertTrue(error(() -> BcoRunningMean.restore(0, 0)).contains("count > 0"));
        assertTrue(error(() -> m.update(Double.NaN)).contains("finite"));
    }
}
