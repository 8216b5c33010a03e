package org.prefixshare.data.workload;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.prefixshare.data.TokenizedExample;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyntheticWorkloadTest {

    @ParameterizedTest
    @ValueSource(doubles = {1, 4})
    void sampleMediansHitEveryPaperProfile(double divisor) {
        for (WorkloadProfile full : WorkloadProfile.PAPER) {
            WorkloadProfile p = full.scaledDown(divisor);
            SyntheticWorkload w = new SyntheticWorkload(p);
            List<TokenizedExample> ex = w.generate(6000, 260, 42, 0);
            WorkloadStats s = WorkloadStats.of(ex);
            String what = p + " -> " + s;
            // the sample is matched, up to the rounding of short lengths at divisor 4 (TLDR's responses of ~7 tokens)
            assertEquals(p.medianOverall(), s.medianOverall(), 0.01 * p.medianOverall() + 0.5, what);
            assertEquals(p.medianRatio(), s.medianRatio(), 0.02 * p.medianRatio(), what);
            for (TokenizedExample e : ex) {
                assertTrue(e.sharedLength() <= w.maxDocument(), e + " exceeds " + w.maxDocument());
                assertTrue(e.promptLength() >= 1 && e.responseLength(0) >= 1 && e.responseLength(1) >= 1, e::toString);
                assertEquals(2, e.responseCount());
            }
        }
    }

    @Test
    void aSmallSampleHasTheProfileMediansToo() {
        // the sizes of the quick bench's samples (8-45 examples x 23 steps): sampling noise alone would put their
        // median ratios several per cent off (1.72 for Capybara's 1.59 before the sample was matched)
        for (WorkloadProfile full : WorkloadProfile.PAPER) {
            WorkloadProfile p = full.scaledDown(4);
            SyntheticWorkload w = new SyntheticWorkload(p, SyntheticWorkload.DEFAULT_SIGMA,
                    (int) Math.ceil(3 * p.medianOverall()));
            for (int count : new int[]{184, 483}) {
                for (long seed = 1; seed <= 3; seed++) {
                    WorkloadStats s = WorkloadStats.of(w.generate(count, 260, seed, 0));
                    String what = p + " n=" + count + " seed " + seed + " -> " + s;
                    assertEquals(p.medianOverall(), s.medianOverall(), 0.01 * p.medianOverall() + 0.5, what);
                    // TLDR's responses of ~7 tokens make its ratios coarse steps: 2 %
                    assertEquals(p.medianRatio(), s.medianRatio(), 0.02 * p.medianRatio(), what);
                }
            }
        }
    }

    @Test
    void matchingMovesOnlyTheMediansNotTheSpread() {
        // the matched sample's log-lengths keep sigma: its per-example lengths are the population's deviates scaled
        WorkloadProfile p = WorkloadProfile.paper("MetaMath-DPO");
        SyntheticWorkload w = new SyntheticWorkload(p);
        List<TokenizedExample> ex = w.generate(300, 260, 5, 0);
        double[] logs = new double[ex.size()];
        for (int i = 0; i < logs.length; i++) {
            logs[i] = Math.log(ex.get(i).promptLength());
        }
        java.util.Arrays.sort(logs);
        double iqr = logs[3 * logs.length / 4] - logs[logs.length / 4];
        assertEquals(2 * 0.6745 * SyntheticWorkload.DEFAULT_SIGMA, iqr, 0.12);
        assertEquals(Math.log(w.promptMedian()), logs[logs.length / 2], 0.1, "matched median near the population's");
    }

    @Test
    void spreadIsLogNormalWithTheDocumentedSigma() {
        WorkloadProfile p = WorkloadProfile.paper("Capybara");
        List<TokenizedExample> ex = new SyntheticWorkload(p).generate(20000, 260, 7, 0);
        // interquartile range of log(response length): 2 x 0.6745 sigma for a normal
        double[] logs = new double[ex.size()];
        for (int i = 0; i < logs.length; i++) {
            logs[i] = Math.log(ex.get(i).responseLength(0));
        }
        java.util.Arrays.sort(logs);
        double iqr = logs[3 * logs.length / 4] - logs[logs.length / 4];
        assertEquals(2 * 0.6745 * SyntheticWorkload.DEFAULT_SIGMA, iqr, 0.05);
    }

    @Test
    void chosenAndRejectedLengthsAreIndependent() {
        List<TokenizedExample> ex = new SyntheticWorkload(WorkloadProfile.paper("UltraFeedback"))
                .generate(20000, 260, 3, 0);
        double[] a = new double[ex.size()];
        double[] b = new double[ex.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = Math.log(ex.get(i).responseLength(0));
            b[i] = Math.log(ex.get(i).responseLength(1));
        }
        // the truncation at maxDocument couples them only very weakly
        assertEquals(0.0, correlation(a, b), 0.05);
    }

    @Test
    void deterministicPerSeedWithinVocabularyAndIds() {
        SyntheticWorkload w = new SyntheticWorkload(WorkloadProfile.paper("HH-RLHF"));
        List<TokenizedExample> a = w.generate(50, 97, 11, 1000);
        List<TokenizedExample> b = w.generate(50, 97, 11, 1000);
        assertEquals(a, b);
        assertNotEquals(a, w.generate(50, 97, 12, 1000));
        for (int i = 0; i < a.size(); i++) {
            TokenizedExample e = a.get(i);
            assertEquals(1000 + i, e.id());
            for (int t = 0; t < e.promptLength(); t++) {
                assertTrue(e.promptToken(t) >= 0 && e.promptToken(t) < 97);
            }
        }
    }

    @Test
    void validatesItsArguments() {
        WorkloadProfile p = WorkloadProfile.paper("TLDR");
        assertThrows(IllegalArgumentException.class, () -> new SyntheticWorkload(p, 0, 4000));
        assertThrows(IllegalArgumentException.class, () -> new SyntheticWorkload(p, 0.5, 500));
        assertThrows(IllegalArgumentException.class, () -> WorkloadProfile.paper("nope"));
        assertThrows(IllegalArgumentException.class, () -> p.scaledDown(0.5));
    }

    @Test
    void statsOfAHandMadeSet() {
        List<TokenizedExample> ex = List.of(
                new TokenizedExample(0, "a", new int[6], List.of(new int[2], new int[4]), 0),   // 12, ratio 2
                new TokenizedExample(1, "b", new int[2], List.of(new int[1], new int[1]), 0),   // 4, ratio 2
                new TokenizedExample(2, "c", new int[1], List.of(new int[4], new int[6]), 0));  // 11, ratio 0.2
        WorkloadStats s = WorkloadStats.of(ex);
        assertEquals(11, s.medianOverall());
        assertEquals(2, s.medianRatio());
        assertEquals(8 + 10 + 3 + 3 + 5 + 7, s.pairedTokens());
        assertEquals((6 - 1 + 3 + 5) + (2 - 1 + 2 + 2) + (1 - 1 + 5 + 7), s.sharedTokens());
    }

    private static double correlation(double[] x, double[] y) {
        double mx = 0;
        double my = 0;
        for (int i = 0; i < x.length; i++) {
            mx += x[i];
            my += y[i];
        }
        mx /= x.length;
        my /= y.length;
        double sxy = 0;
        double sxx = 0;
        double syy = 0;
        for (int i = 0; i < x.length; i++) {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxy / Math.sqrt(sxx * syy);
    }
}
