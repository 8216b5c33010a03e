package org.prefixshare.loss;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.loss.LossConfig.Term;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every loss type against the plain-Java oracle, values and gradients, in float64. */
class DpoLossTest {

    private static final double VALUE_TOL = 1e-12;
    private static final double GRAD_TOL = 1e-6;
    private static final double FD_STEP = 1e-5;
    private static final double BCO_DELTA = 0.037;

    /** Random pairs: summed log-probs in [-40, -2], token counts 2..20, reference = policy + N(0, 2). */
    static LossOracle.Batch randomBatch(long seed, int pairs, boolean withRef) {
        Random rnd = new Random(seed);
        double[] pc = new double[pairs];
        double[] pr = new double[pairs];
        double[] rc = new double[pairs];
        double[] rr = new double[pairs];
        double[] nc = new double[pairs];
        double[] nr = new double[pairs];
        for (int i = 0; i < pairs; i++) {
            pc[i] = -2 - 38 * rnd.nextDouble();
            pr[i] = -2 - 38 * rnd.nextDouble();
            rc[i] = pc[i] + 2 * rnd.nextGaussian();
            rr[i] = pr[i] + 2 * rnd.nextGaussian();
            nc[i] = 2 + rnd.nextInt(19);
            nr[i] = 2 + rnd.nextInt(19);
        }
        return new LossOracle.Batch(pc, pr, withRef ? rc : null, withRef ? rr : null, nc, nr, BCO_DELTA);
    }

    /** A graph over {@code b}: policy log-probs are variables (for gradients), the rest placeholders. */
    record Graph(SameDiff sd, SDVariable loss, Map<String, INDArray> feed) {
        double value(String name) {
            return sd.output(feed, name).get(name).getDouble(0);
        }

        /** Gradients w.r.t. pc and pr; zeros where the loss does not depend on them (SameDiff returns none). */
        Map<String, INDArray> grads() {
            Map<String, INDArray> g = new HashMap<>(sd.calculateGradients(feed, "pc", "pr"));
            for (String n : new String[] {"pc", "pr"}) {
                g.computeIfAbsent(n, k -> Nd4j.zeros(DataType.DOUBLE, sd.getVariable(k).getArr().length()));
            }
            return g;
        }
    }

    static Graph graph(LossOracle.Batch b, LossConfig cfg) {
        SameDiff sd = SameDiff.create();
        int p = b.size();
        SDVariable pc = sd.var("pc", Nd4j.createFromArray(b.pc()));
        SDVariable pr = sd.var("pr", Nd4j.createFromArray(b.pr()));
        Map<String, INDArray> feed = new HashMap<>();
        SDVariable rc = null;
        SDVariable rr = null;
        if (b.rc() != null) {
            rc = sd.placeHolder("rc", DataType.DOUBLE, p);
            rr = sd.placeHolder("rr", DataType.DOUBLE, p);
            feed.put("rc", Nd4j.createFromArray(b.rc()));
            feed.put("rr", Nd4j.createFromArray(b.rr()));
        }
        SDVariable nc = sd.placeHolder("nc", DataType.DOUBLE, p);
        SDVariable nr = sd.placeHolder("nr", DataType.DOUBLE, p);
        feed.put("nc", Nd4j.createFromArray(b.nc()));
        feed.put("nr", Nd4j.createFromArray(b.nr()));
        PairLogps pairs = new PairLogps(pc, pr, rc, rr, nc, nr, null);
        if (cfg.contains(LossType.BCO_PAIR)) {
            pairs = pairs.withBcoDelta(sd.placeHolder("bco_delta", DataType.DOUBLE));
            feed.put("bco_delta", Nd4j.scalar(b.bcoDelta()));
        }
        return new Graph(sd, DpoLoss.build(sd, pairs, cfg), feed);
    }

    /** A config exercising {@code type}'s parameters: label smoothing 0.1 where used, non-default gamma/alpha/tau. */
    static LossConfig configFor(LossType type) {
        LossConfig c = LossConfig.of(type).withBeta(0.3).withSimpoGamma(0.7).withCpoAlpha(0.6).withDiscopopTau(0.2);
        return type.usesLabelSmoothing() ? c.withLabelSmoothing(0.1) : c;
    }

    static double relErr(double actual, double expected) {
        return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
    }

    static double maxRelErr(double[] actual, double[] expected) {
        double scale = 0;
        double diff = 0;
        for (int i = 0; i < expected.length; i++) {
            scale = Math.max(scale, Math.abs(expected[i]));
            diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
        }
        return scale == 0 ? diff : diff / scale;
    }

    @ParameterizedTest
    @EnumSource(LossType.class)
    void valueAndGradientsMatchOracle(LossType type) {
        for (long seed = 1; seed <= 3; seed++) {
            LossOracle.Batch b = randomBatch(seed * 7919 + type.ordinal(), 9, type.needsReference());
            LossConfig cfg = configFor(type);
            Graph g = graph(b, cfg);

            double expected = LossOracle.loss(b, cfg);
            double actual = g.value(Metric.LOSS.varName());
            assertTrue(relErr(actual, expected) <= VALUE_TOL,
                    type + " seed " + seed + ": loss " + actual + " vs oracle " + expected);

            Map<String, INDArray> grads = g.grads();
            double[] gc = grads.get("pc").toDoubleVector();
            double[] gr = grads.get("pr").toDoubleVector();
            double[] fc = LossOracle.fdGrad(b, cfg, true, FD_STEP);
            double[] fr = LossOracle.fdGrad(b, cfg, false, FD_STEP);
            assertTrue(maxRelErr(gc, fc) <= GRAD_TOL,
                    type + " seed " + seed + ": d/d chosen rel err " + maxRelErr(gc, fc));
            assertTrue(maxRelErr(gr, fr) <= GRAD_TOL,
                    type + " seed " + seed + ": d/d rejected rel err " + maxRelErr(gr, fr));
        }
    }

    @Test
    void sigmoidWithoutLabelSmoothingIsPlainDpo() {
        LossOracle.Batch b = randomBatch(42, 6, true);
        LossConfig cfg = LossConfig.defaults();
        double expected = 0;
        for (int i = 0; i < b.size(); i++) {
            double d = (b.pc()[i] - b.rc()[i]) - (b.pr()[i] - b.rr()[i]);
            expected += -LossOracle.logSigmoid(0.1 * d);
        }
        expected /= b.size();
        assertTrue(relErr(graph(b, cfg).value("loss"), expected) <= VALUE_TOL);
    }

    @Test
    void extremeMarginsStayFinite() {
        // beta * delta = -+2000: a naive log(1 + exp(x)) overflows; the stable log-sigmoid gives 2000 and 0
        double[] pc = {-1.0, -4001.0};
        double[] pr = {-4001.0, -1.0};
        double[] ref = {-2001.0, -2001.0};
        double[] n = {5.0, 5.0};
        LossOracle.Batch b = new LossOracle.Batch(pc, pr, ref, ref, n, n, 0.0);
        for (LossType t : new LossType[] {LossType.SIGMOID, LossType.ROBUST, LossType.NCA_PAIR, LossType.BCO_PAIR}) {
            LossConfig cfg = LossConfig.of(t).withBeta(0.5);
            Graph g = graph(b, cfg);
            double v = g.value("loss");
            assertTrue(Double.isFinite(v) && relErr(v, LossOracle.loss(b, cfg)) <= VALUE_TOL, t + ": " + v);
            for (INDArray grad : g.grads().values()) {
                for (double x : grad.toDoubleVector()) {
                    assertTrue(Double.isFinite(x), t + " gradient " + grad);
                }
            }
        }
        assertEquals(1000.0, graph(b, LossConfig.of(LossType.SIGMOID).withBeta(0.5)).value("loss"), 1e-9);
    }

    @Test
    void weightedMixIsWeightedSumOfSingleLosses() {
        LossOracle.Batch b = randomBatch(5, 8, true);
        List<Term> terms = List.of(new Term(LossType.SIGMOID, 1.0), new Term(LossType.SFT, 0.5),
                new Term(LossType.IPO, 0.25), new Term(LossType.SIMPO, 2.0));
        LossConfig mix = LossConfig.of(terms).withBeta(0.2).withLabelSmoothing(0.05);
        Graph gm = graph(b, mix);
        double value = gm.value("loss");
        Map<String, INDArray> gradMix = gm.grads();

        double expected = 0;
        double[] gc = new double[b.size()];
        double[] gr = new double[b.size()];
        for (Term t : terms) {
            LossConfig single = mix.withLabelSmoothing(0).withTerms(List.of(Term.of(t.type())))
                    .withLabelSmoothing(t.type().usesLabelSmoothing() ? mix.labelSmoothing() : 0);
            Graph gs = graph(b, single);
            expected += t.weight() * gs.value("loss");
            assertEquals(gs.value("loss"), gm.value(DpoLoss.TERM_PREFIX + t.type().trlName()), 1e-15,
                    "per-term variable of " + t.type());
            Map<String, INDArray> g = gs.grads();
            for (int i = 0; i < b.size(); i++) {
                gc[i] += t.weight() * g.get("pc").getDouble(i);
                gr[i] += t.weight() * g.get("pr").getDouble(i);
            }
        }
        assertTrue(relErr(value, expected) <= VALUE_TOL, "mix " + value + " vs weighted sum " + expected);
        assertTrue(relErr(value, LossOracle.loss(b, mix)) <= VALUE_TOL, "mix vs oracle");
        assertTrue(maxRelErr(gradMix.get("pc").toDoubleVector(), gc) <= 1e-12);
        assertTrue(maxRelErr(gradMix.get("pr").toDoubleVector(), gr) <= 1e-12);
    }

    @Test
    void rpoIsSigmoidPlusAlphaSft() {
        LossOracle.Batch b = randomBatch(11, 5, true);
        LossConfig rpo = LossConfig.rpo(0.1, 1.0);
        double expected = LossOracle.term(b, rpo, LossType.SIGMOID) + LossOracle.nll(b);
        assertTrue(relErr(graph(b, rpo).value("loss"), expected) <= VALUE_TOL);
    }

    @Test
    void referenceMetricsMatchTrlDefinitions() {
        LossOracle.Batch b = randomBatch(3, 10, true);
        LossConfig cfg = LossConfig.defaults().withBeta(0.25);
        Graph g = graph(b, cfg);
        double rc = 0;
        double rr = 0;
        double acc = 0;
        double lc = 0;
        double lr = 0;
        for (int i = 0; i < b.size(); i++) {
            double c = 0.25 * (b.pc()[i] - b.rc()[i]);
            double r = 0.25 * (b.pr()[i] - b.rr()[i]);
            rc += c;
            rr += r;
            acc += c > r ? 1 : 0;
            lc += b.pc()[i];
            lr += b.pr()[i];
        }
        int p = b.size();
        assertEquals(rc / p, g.value("rewards_chosen"), 1e-12);
        assertEquals(rr / p, g.value("rewards_rejected"), 1e-12);
        assertEquals(acc / p, g.value("rewards_accuracies"), 1e-15);
        assertEquals((rc - rr) / p, g.value("rewards_margins"), 1e-12);
        assertEquals(lc / p, g.value("logps_chosen"), 1e-12);
        assertEquals(lr / p, g.value("logps_rejected"), 1e-12);
        assertTrue(acc > 0 && acc < p, "test data should have both right and wrong pairs");
    }

    @Test
    void referenceFreeMetricsUsePolicyLogpsAveragedForSimpo() {
        LossOracle.Batch b = randomBatch(4, 6, false);
        Graph simpo = graph(b, LossConfig.of(LossType.SIMPO).withBeta(2.0));
        Graph cpo = graph(b, LossConfig.of(LossType.CPO).withBeta(2.0));
        double avgC = 0;
        double sumC = 0;
        for (int i = 0; i < b.size(); i++) {
            avgC += b.pc()[i] / b.nc()[i];
            sumC += b.pc()[i];
        }
        int p = b.size();
        assertEquals(2.0 * avgC / p, simpo.value("rewards_chosen"), 1e-12);
        assertEquals(avgC / p, simpo.value("logps_chosen"), 1e-12);
        assertEquals(2.0 * sumC / p, cpo.value("rewards_chosen"), 1e-12);
        assertEquals(sumC / p, cpo.value("logps_chosen"), 1e-12);
    }

    @Test
    void metricTrlNames() {
        assertEquals("rewards/accuracies", Metric.REWARDS_ACCURACIES.trlName());
        assertEquals("logps/rejected", Metric.trlNames().get("logps_rejected"));
        assertEquals(Metric.values().length, Metric.varNames().length);
    }

    @Test
    void pairsGatheredFromSequencesGiveSequenceGradients() {
        // example 10: 3 responses (ranks 2, 0, 1 in table order); example 20: 2 responses; interleaved
        int[] example = {10, 20, 10, 20, 10};
        int[] rank = {2, 1, 0, 0, 1};
        PairIndex idx = PairIndex.fromSequenceTable(example, rank);
        Random rnd = new Random(9);
        int s = example.length;
        double[] logp = new double[s];
        double[] ref = new double[s];
        double[] tok = new double[s];
        for (int i = 0; i < s; i++) {
            logp[i] = -3 - 20 * rnd.nextDouble();
            ref[i] = logp[i] + rnd.nextGaussian();
            tok[i] = 3 + rnd.nextInt(10);
        }
        LossConfig cfg = LossConfig.of(List.of(Term.of(LossType.SIGMOID), new Term(LossType.SFT, 0.3)));
        SameDiff sd = SameDiff.create();
        SDVariable seqLogps = sd.var("seq_logps", Nd4j.createFromArray(logp));
        SDVariable seqRef = sd.constant("seq_ref", Nd4j.createFromArray(ref));
        SDVariable seqTok = sd.constant("seq_tok", Nd4j.createFromArray(tok));
        DpoLoss.build(sd, PairLogps.gather(sd, seqLogps, seqRef, seqTok, idx), cfg);
        double value = sd.output(Map.of(), "loss").get("loss").getDouble(0);
        double[] grad = sd.calculateGradients(Map.of(), "seq_logps").get("seq_logps").toDoubleVector();

        java.util.function.Function<double[], Double> oracle = lp -> LossOracle.loss(pairBatch(lp, ref, tok, idx), cfg);
        assertTrue(relErr(value, oracle.apply(logp)) <= VALUE_TOL);
        double[] fd = new double[s];
        for (int i = 0; i < s; i++) {
            double[] up = logp.clone();
            double[] dn = logp.clone();
            up[i] += FD_STEP;
            dn[i] -= FD_STEP;
            fd[i] = (oracle.apply(up) - oracle.apply(dn)) / (2 * FD_STEP);
        }
        assertTrue(maxRelErr(grad, fd) <= GRAD_TOL, "sequence gradient rel err " + maxRelErr(grad, fd));
    }

    private static LossOracle.Batch pairBatch(double[] lp, double[] ref, double[] tok, PairIndex idx) {
        int p = idx.size();
        double[][] a = new double[6][p];
        for (int i = 0; i < p; i++) {
            int c = idx.chosen()[i];
            int r = idx.rejected()[i];
            a[0][i] = lp[c];
            a[1][i] = lp[r];
            a[2][i] = ref[c];
            a[3][i] = ref[r];
            a[4][i] = tok[c];
            a[5][i] = tok[r];
        }
        return new LossOracle.Batch(a[0], a[1], a[2], a[3], a[4], a[5], 0.0);
    }

    @Test
    void referenceLossWithoutReferenceIsRejected() {
        SameDiff sd = SameDiff.create();
        PairLogps p = PairLogps.referenceFree(sd.var("a", Nd4j.createFromArray(-1.0)),
                sd.var("b", Nd4j.createFromArray(-2.0)), sd.constant(Nd4j.createFromArray(1.0)),
                sd.constant(Nd4j.createFromArray(1.0)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DpoLoss.build(sd, p, LossConfig.of(List.of(Term.of(LossType.SIMPO), Term.of(LossType.IPO)))));
        assertTrue(e.getMessage().contains("ipo") && e.getMessage().contains("reference"), e.getMessage());
    }

    @Test
    void bcoWithoutBaselineIsRejected() {
        SameDiff sd = SameDiff.create();
        SDVariable one = sd.constant(Nd4j.createFromArray(1.0));
        PairLogps p = PairLogps.withReference(sd.var("a", Nd4j.createFromArray(-1.0)),
                sd.var("b", Nd4j.createFromArray(-2.0)), one, one, one, one);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DpoLoss.build(sd, p, LossConfig.of(LossType.BCO_PAIR)));
        assertTrue(e.getMessage().contains("BcoRunningMean"), e.getMessage());
    }
}
