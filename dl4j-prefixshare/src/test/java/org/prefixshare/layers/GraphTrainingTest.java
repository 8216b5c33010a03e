package org.prefixshare.layers;

import org.deeplearning4j.datasets.iterator.AsyncMultiDataSetIterator;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.listeners.PerformanceListener;
import org.deeplearning4j.optimize.listeners.ScoreIterationListener;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.EquivalenceCheck;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** fit / AsyncMultiDataSetIterator / listeners / ModelSerializer / ParallelWrapper / JSON, float32, tiny sizes. */
class GraphTrainingTest {

    private static final DecoderConfig CFG = Tiny.config(1).withDataType(DataType.FLOAT);
    private static final LossConfig LOSS = LossConfig.of(LossConfig.Term.parseList("simpo,cpo:0.5"));

    private static List<TokenizedExample> examples(int n) {
        SplittableRandom rnd = new SplittableRandom(9);
        List<TokenizedExample> ex = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ex.add(EquivalenceCheck.randomExample(rnd, i, Tiny.VOCAB, 5, 4, i % 5 == 0 ? 3 : 2));
        }
        return ex;
    }

    private static DpoGraphIterator iterator(int n, long seed) {
        PackConfig pc = PackConfig.defaults(32, 2, seed).withPrefetch(0);
        return new DpoGraphIterator(new PreferenceBatchIterator(examples(n), pc), DataType.FLOAT);
    }

    private static ComputationGraph graph() {
        ComputationGraph g = new ComputationGraph(DecoderGraph.configuration(CFG, LOSS, new Adam(1e-2), 5, "auto"));
        g.init();
        return g;
    }

    @Test
    void configurationRoundTripsThroughJson() {
        ComputationGraphConfiguration conf = DecoderGraph.configuration(CFG, LOSS, new Adam(1e-2), 5, "auto");
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(conf.toJson());
        assertEquals(conf, back);
        assertEquals(conf.toJson(), back.toJson());
    }

    @Test
    void buildersNameTheLayerInTheirErrors() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new DecoderBlock.Builder().hiddenSize(8).numHeads(3).numKvHeads(2).intermediateSize(4).build());
        assertTrue(e.getMessage().contains("DecoderBlock") && e.getMessage().contains("3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DpoOutputLayer.Builder().hiddenSize(8).build());
        assertTrue(e.getMessage().contains("DpoOutputLayer: vocabSize"), e.getMessage());
    }

    @Test
    void fitsThroughAsyncIteratorWithListenersAndLearns() {
        ComputationGraph g = graph();
        DpoMetricsListener metrics = new DpoMetricsListener(5);
        g.setListeners(new ScoreIterationListener(5), new PerformanceListener(5, true), metrics);
        DpoGraphIterator it = iterator(24, 1);
        MultiDataSet fixed = it.next();
        it.reset();
        double before = g.score(fixed);
        for (int epoch = 0; epoch < 4; epoch++) {
            g.fit(new AsyncMultiDataSetIterator(it, 2));
            it.reset();
        }
        double after = g.score(fixed);
        assertTrue(after < before, "loss did not fall: " + before + " -> " + after);
        List<Map<String, Double>> h = metrics.history();
        assertFalse(h.isEmpty());
        Map<String, Double> last = h.get(h.size() - 1);
        for (String k : List.of("loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies",
                "rewards/margins", "logps/chosen", "logps/rejected")) {
            assertTrue(last.containsKey(k) && Double.isFinite(last.get(k)), k + " in " + last);
        }
        // the layer's score is the DPO loss itself (not divided by the rows)
        assertEquals(last.get("loss"), g.score(), 1e-5);
        // inference needs no labels: next-token logits [B,V,T]
        INDArray logits = g.outputSingle(fixed.getFeatures());
        assertEquals(Tiny.VOCAB, logits.size(1));
        assertEquals(fixed.getFeatures(0).size(1), logits.size(2));
    }

    @Test
    void modelSerializerRoundTripAndIdenticalContinuedTraining(@TempDir File dir) throws Exception {
        ComputationGraph a = graph();
        DpoGraphIterator it = iterator(48, 2);
        List<MultiDataSet> batches = new ArrayList<>();
        while (it.hasNext()) {
            batches.add(it.next());
        }
        assertTrue(batches.size() >= 5, "need 5 batches, got " + batches.size());
        for (int i = 0; i < 3; i++) {
            a.fit(batches.get(i));
        }
        File f = new File(dir, "graph.zip");
        ModelSerializer.writeModel(a, f, true);
        ComputationGraph b = ModelSerializer.restoreComputationGraph(f, true);
        assertEquals(a.params(), b.params());
        assertEquals(a.getUpdater().getStateViewArray(), b.getUpdater().getStateViewArray());
        MultiDataSet probe = batches.get(3);
        assertEquals(a.outputSingle(probe.getFeatures()), b.outputSingle(probe.getFeatures()));
        assertEquals(a.score(probe), b.score(probe), 0.0);
        for (int i = 3; i < batches.size(); i++) {
            a.fit(batches.get(i));
            b.fit(batches.get(i));
        }
        assertEquals(a.params(), b.params(), "continued training diverged after restore");
        assertEquals(a.getUpdater().getStateViewArray(), b.getUpdater().getStateViewArray());
    }

    @Test
    void parallelWrapperTrainsWithTwoWorkers() throws Exception {
        ComputationGraph g = graph();
        INDArray before = g.params().dup();
        DpoGraphIterator it = iterator(24, 3);
        try (ParallelWrapper pw = new ParallelWrapper.Builder<>(g).workers(2).prefetchBuffer(2)
                .averagingFrequency(1).build()) {
            pw.fit(it);
        }
        assertFalse(before.equalsWithEps(g.params(), 1e-7), "parameters did not change");
        assertFalse(g.params().isNaN().any() || g.params().isInfinite().any());
    }
}
