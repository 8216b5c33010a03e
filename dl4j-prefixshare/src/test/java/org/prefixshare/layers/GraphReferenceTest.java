package org.prefixshare.layers;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.EquivalenceCheck;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.train.DpoObjective;
import org.prefixshare.train.ReferenceStore;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Standard DPO through the ComputationGraph: reference log-probs computed by the graph itself (a frozen copy, inference
 * mode, the same packed rows) agree with the SameDiff decoder's, and with them the graph's loss and gradients equal
 * the SameDiff decoder's for sigmoid and ipo (float64, 1e-9). Also the live reference, the fixed row length and the
 * refusal of DL4J masks.
 */
class GraphReferenceTest {

    private static final DecoderConfig CFG = Tiny.config(2);
    private static final int T = 32;

    static List<TokenizedExample> examples(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<TokenizedExample> ex = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ex.add(EquivalenceCheck.randomExample(rnd, 1000 + i, Tiny.VOCAB, 5, 4, i % 4 == 1 ? 3 : 2));
        }
        return ex;
    }

    private static PackConfig pack(long seed) {
        return PackConfig.defaults(T, 3, seed).withPrefetch(0);
    }

    private static ComputationGraph graph(LossConfig loss, Map<String, INDArray> weights) {
        ComputationGraph g = new ComputationGraph(DecoderGraph.configuration(CFG, loss, new NoOp(), 1, "auto"));
        g.init();
        DecoderGraph.setHfParameters(g, weights);
        return g;
    }

    private static double relErr(double a, double b) {
        return Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
    }

    @Test
    void referencesComputedByTheGraphEqualTheSameDiffDecoders() {
        DecoderModel model = DecoderModel.create(CFG, 3, PrefixShareOps.Implementation.AUTO, 0.3);
        ComputationGraph g = graph(LossConfig.defaults(), model.parameters());
        List<TokenizedExample> ex = examples(14, 5);
        ReferenceStore byGraph = FrozenReference.copyOf(g).precompute(ex, pack(1));
        ReferenceStore byModel = ReferenceStore.compute(model, ex, pack(1));
        assertEquals(ex.size(), byGraph.size());
        double worst = 0;
        for (TokenizedExample e : ex) {
            for (int r = 0; r < e.responseCount(); r++) {
                double a = byGraph.get(e.id(), r);
                double b = byModel.get(e.id(), r);
                assertTrue(Double.isFinite(a) && a < 0, "logp " + a);
                worst = Math.max(worst, relErr(a, b));
            }
        }
        assertTrue(worst <= 1e-9, "graph references differ from the SameDiff decoder's by " + worst);
    }

    /** Loss and every gradient of the graph vs the SameDiff decoder, standard DPO with references by the graph. */
    @ParameterizedTest
    @ValueSource(strings = {"sigmoid", "ipo"})
    void standardDpoWithGraphReferencesMatchesTheSameDiffDecoder(String type) {
        LossConfig loss = LossConfig.of(LossConfig.Term.parseList(type)).withBeta(0.5);
        DecoderModel model = DecoderModel.create(CFG, 7, PrefixShareOps.Implementation.AUTO, 0.3);
        ComputationGraph g = graph(loss, model.parameters());
        List<TokenizedExample> ex = examples(10, 11);
        ReferenceStore refs = FrozenReference.copyOf(g).precompute(ex, pack(2));

        // the policy moves away from the reference (same step for both), so the loss is not at its initial value
        Map<String, INDArray> moved = model.parameters();
        Nd4j.getRandom().setSeed(17);
        moved.replaceAll((k, v) -> v.add(Nd4j.randn(DataType.DOUBLE, v.shape()).muli(0.05)));
        model.setParameters(moved);
        DecoderGraph.setHfParameters(g, moved);

        LayoutBatch batch;
        MultiDataSet ds;
        try (PreferenceBatchIterator it = new PreferenceBatchIterator(ex, pack(2), refs)) {
            DpoGraphIterator gi = new DpoGraphIterator(it, DataType.DOUBLE);
            ds = gi.next();
            batch = it.lastLayout();
        }
        for (SequenceInfo s : batch.sequences()) {
            assertEquals(refs.get(s.exampleId(), s.rank()), s.refLogp(), 0.0);
        }
        DpoObjective objective = new DpoObjective(model, loss);
        DecoderModel.LossAndGradients expected = model.lossAndGradients(batch, objective.feeds(batch, null, 0.0));
        assertTrue(Math.abs(expected.loss() - (type.equals("ipo") ? 0.25 : Math.log(2))) > 1e-4,
                "the loss should have left its initial value, got " + expected.loss());

        g.setInputs(ds.getFeatures());
        g.setLabels(ds.getLabels());
        g.computeGradientAndScore();
        double lossErr = relErr(g.score(), expected.loss());
        assertTrue(lossErr <= 1e-9, type + " loss: graph " + g.score() + " vs SameDiff " + expected.loss());
        double worst = Tiny.worstGradientError(g.gradient().gradientForVariable(), DecoderGraph.hfNames(g),
                batch.rows().size(), expected.gradients());
        System.out.printf("%s with graph references: loss rel err %.3e, worst gradient rel err %.3e%n", type, lossErr,
                worst);
        assertTrue(worst <= 1e-9, type + ": gradient differs by " + worst);
    }

    @Test
    void liveReferenceEqualsThePrecomputedOne(@TempDir Path dir) {
        DecoderModel model = DecoderModel.create(CFG, 9, PrefixShareOps.Implementation.AUTO, 0.3);
        ComputationGraph g = graph(LossConfig.defaults(), model.parameters());
        List<TokenizedExample> ex = examples(12, 13);
        FrozenReference frozen = FrozenReference.copyOf(g);
        ReferenceStore stored = frozen.loadOrPrecompute(dir, ex, pack(3));
        assertTrue(Files.isRegularFile(dir.resolve("reference_logps.tsv")));
        // a second call reads the file back (same frozen weights and examples): the same values
        ReferenceStore again = frozen.loadOrPrecompute(dir, ex, pack(3));
        for (TokenizedExample e : ex) {
            for (int r = 0; r < e.responseCount(); r++) {
                assertEquals(stored.get(e.id(), r), again.get(e.id(), r), 0.0);
            }
        }
        g.params().addi(0.01);   // training the graph does not move its frozen copy

        // other shuffling and packing (seed 4) than the precompute pass: the store finds every sequence by id
        DpoGraphIterator live = new DpoGraphIterator(new PreferenceBatchIterator(ex, pack(4)), DataType.DOUBLE)
                .liveReference(frozen);
        DpoGraphIterator fromStore = new DpoGraphIterator(new PreferenceBatchIterator(ex, pack(4), again),
                DataType.DOUBLE);
        double worst = 0;
        int seen = 0;
        while (fromStore.hasNext()) {
            double[] a = DpoLabels.decode(live.next().getLabels(0), 0).refLogp();
            double[] b = DpoLabels.decode(fromStore.next().getLabels(0), 0).refLogp();
            assertEquals(b.length, a.length);
            for (int i = 0; i < a.length; i++) {
                assertTrue(Double.isFinite(a[i]) && Double.isFinite(b[i]));
                worst = Math.max(worst, relErr(a[i], b[i]));
                seen++;
            }
        }
        assertFalse(live.hasNext());
        assertTrue(seen >= 24, "sequences seen: " + seen);
        assertTrue(worst <= 1e-9, "live vs precomputed references differ by " + worst);
    }

    @Test
    void everyBatchHasTheRowLengthAndAnotherLengthIsNamed() {
        List<TokenizedExample> ex = examples(12, 21);
        // unpacked rows are padded to a multiple of 64 by the batch iterator; the graph iterator pads them on to
        // packLength so that every batch has the same T
        PackConfig unpacked = PackConfig.defaults(128, 2, 1).withPacking(false).withPrefetch(0);
        DpoGraphIterator it = new DpoGraphIterator(new PreferenceBatchIterator(ex, unpacked), DataType.DOUBLE);
        assertEquals(128, it.rowLength());
        while (it.hasNext()) {
            MultiDataSet ds = it.next();
            for (INDArray f : ds.getFeatures()) {
                assertEquals(128, f.size(1));
            }
            assertEquals(128, ds.getLabels(0).size(2));
        }
        DpoGraphIterator tooShort = new DpoGraphIterator(new PreferenceBatchIterator(ex,
                PackConfig.defaults(128, 2, 1).withPacking(false).withPrefetch(0)), DataType.DOUBLE).rowLength(8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, tooShort::next);
        assertTrue(e.getMessage().contains("T=64") && e.getMessage().contains("T=8")
                && e.getMessage().contains("packLength"), e.getMessage());

        // a graph fed another row length than its first names both and the setting that fixes them
        ComputationGraph g = graph(LossConfig.defaults(), DecoderModel.create(CFG, 1).parameters());
        MultiDataSet first = Tiny.data(Tiny.batch(2), DataType.DOUBLE);
        g.fit(first);
        MultiDataSet longer = DpoGraphIterator.convert(DpoGraphIterator.pad(
                PreferenceBatchIterator.toMultiDataSet(Tiny.batch(3)), 2, (int) first.getFeatures(0).size(1) + 5, 0),
                DataType.DOUBLE, 0.0);
        Throwable thrown = assertThrows(RuntimeException.class, () -> g.fit(longer));
        String msg = rootMessage(thrown);
        long t0 = first.getFeatures(0).size(1);
        assertTrue(msg.contains("T=" + (t0 + 5)) && msg.contains("T=" + t0) && msg.contains("packLength"), msg);
    }

    @Test
    void dl4jMasksAreRefusedWithAMessage() {
        ComputationGraph g = graph(LossConfig.defaults(), DecoderModel.create(CFG, 1).parameters());
        MultiDataSet ds = Tiny.data(Tiny.batch(2), DataType.DOUBLE);
        INDArray ones = Nd4j.ones(DataType.DOUBLE, ds.getFeatures(0).shape());
        ds.setFeaturesMaskArrays(new INDArray[]{ones, null, null, null});
        String msg = rootMessage(assertThrows(RuntimeException.class, () -> g.fit(ds)));
        assertTrue(msg.contains("feature masks are not supported"), msg);

        ComputationGraph g2 = graph(LossConfig.defaults(), DecoderModel.create(CFG, 1).parameters());
        MultiDataSet ds2 = Tiny.data(Tiny.batch(2), DataType.DOUBLE);
        ds2.setLabelsMaskArray(new INDArray[]{ones});
        msg = rootMessage(assertThrows(RuntimeException.class, () -> g2.fit(ds2)));
        assertTrue(msg.contains("labels mask is not supported"), msg);
        assertFalse(g.params().isNaN().any());
    }

    static String rootMessage(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            sb.append(c.getMessage()).append(" | ");
        }
        return sb.toString();
    }
}
