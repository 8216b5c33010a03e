package org.prefixshare.layers;

import org.deeplearning4j.datasets.iterator.AsyncDataSetIterator;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.NoOp;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.pack.PreferenceDataSetIterator;
import org.prefixshare.train.ReferenceStore;

import java.io.File;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.ArgumentMatchers.same;
import static org.mockito.Mockito.atLeastOnce;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;

/**
 * The single-input path: a {@code MultiLayerNetwork} built with DL4J's ListBuilder from {@link PrefixSharedEmbedding},
 * {@link DecoderBlockLayer}s and {@link DpoOutputLayer}, fed by {@link PreferenceDataSetIterator}.
 */
class NetworkTest {

    private static MultiLayerNetwork network(DecoderConfig c, LossConfig loss, org.nd4j.linalg.learning.config.IUpdater u,
                                             long seed) {
        MultiLayerNetwork n = new MultiLayerNetwork(DecoderNetwork.configuration(c, loss, u, seed, "auto"));
        n.init();
        return n;
    }

    /** The MultiLayerNetwork and the ComputationGraph, same weights and batch: same loss and gradients (float64). */
    @Test
    void sameLossAndGradientsAsTheComputationGraph() {
        DecoderConfig c = Tiny.config(2);
        LossConfig loss = LossConfig.of(LossConfig.Term.parseList("sigmoid,sft:0.5")).withBeta(0.5);
        DecoderModel model = DecoderModel.create(c, 5, PrefixShareOps.Implementation.AUTO, 0.3);
        ComputationGraph g = new ComputationGraph(DecoderGraph.configuration(c, loss, new NoOp(), 1, "auto"));
        g.init();
        DecoderGraph.setHfParameters(g, model.parameters());
        MultiLayerNetwork n = network(c, loss, new NoOp(), 2);
        DecoderNetwork.setHfParameters(n, DecoderGraph.hfParameters(g));

        LayoutBatch batch = Tiny.batch(31);
        MultiDataSet gds = Tiny.data(batch, DataType.DOUBLE);
        g.setInputs(gds.getFeatures());
        g.setLabels(gds.getLabels());
        g.computeGradientAndScore();
        DataSet nds = PreferenceDataSetIterator.toDataSet(Tiny.data(batch, DataType.DOUBLE), DataType.DOUBLE);
        n.setInput(nds.getFeatures());
        n.setLabels(nds.getLabels());
        n.computeGradientAndScore();

        double lossErr = Math.abs(n.score() - g.score()) / Math.abs(g.score());
        assertTrue(lossErr <= 1e-9, "loss: network " + n.score() + " vs graph " + g.score());
        // by HF name: every parameter's gradient
        Map<String, INDArray> graphGrads = new HashMap<>();
        DecoderGraph.hfNames(g).forEach((k, hf) -> graphGrads.put(hf, g.gradient().gradientForVariable().get(k)));
        double worst = Tiny.worstGradientError(n.gradient().gradientForVariable(), DecoderNetwork.hfNames(n), 1.0,
                graphGrads);
        System.out.printf("MultiLayerNetwork vs ComputationGraph: loss rel err %.3e, worst gradient rel err %.3e%n",
                lossErr, worst);
        assertTrue(worst <= 1e-9, "gradients differ by " + worst);
        // and the SameDiff decoder's outputs through the network's own inference: next-token logits [B,V,T]
        INDArray logits = n.output(nds.getFeatures());
        assertEquals(g.outputSingle(gds.getFeatures()), logits);
    }

    @Test
    void hfParametersRoundTripThroughTheSameDiffDecoder() {
        DecoderConfig c = Tiny.config(2).withDataType(DataType.DOUBLE);
        DecoderModel model = DecoderModel.create(c, 8, PrefixShareOps.Implementation.AUTO, 0.3);
        Map<String, INDArray> original = model.parameters();
        ComputationGraph g = new ComputationGraph(DecoderGraph.configuration(c, LossConfig.defaults(), new NoOp(), 1,
                "auto"));
        g.init();
        DecoderGraph.setHfParameters(g, original);
        MultiLayerNetwork n = network(c, LossConfig.defaults(), new NoOp(), 1);
        DecoderNetwork.setHfParameters(n, original);
        assertEquals(original.keySet(), DecoderGraph.hfParameters(g).keySet());
        assertEquals(original.keySet(), DecoderNetwork.hfParameters(n).keySet());
        for (Map<String, INDArray> back : List.of(DecoderGraph.hfParameters(g), DecoderNetwork.hfParameters(n))) {
            DecoderModel other = DecoderModel.create(c, 99);
            other.setParameters(back);
            Map<String, INDArray> again = other.parameters();
            for (String k : original.keySet()) {
                assertEquals(original.get(k), again.get(k), k);
            }
        }
        // nothing is dropped or missed silently; a tied checkpoint's lm_head comes from the embedding
        Map<String, INDArray> extra = new HashMap<>(original);
        extra.put("model.layers.9.mlp.up_proj.weight", Nd4j.zeros(1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DecoderGraph.setHfParameters(g, extra));
        assertTrue(e.getMessage().contains("model.layers.9.mlp.up_proj.weight"), e.getMessage());
        Map<String, INDArray> missing = new HashMap<>(original);
        missing.remove("model.norm.weight");
        e = assertThrows(IllegalArgumentException.class, () -> DecoderNetwork.setHfParameters(n, missing));
        assertTrue(e.getMessage().contains("missing [model.norm.weight]"), e.getMessage());
        Map<String, INDArray> tied = new HashMap<>(original);
        tied.remove("lm_head.weight");
        DecoderNetwork.setHfParameters(n, tied);
        assertEquals(original.get("model.embed_tokens.weight"), DecoderNetwork.hfParameters(n).get("lm_head.weight"));
    }

    @Test
    void configurationRoundTripsThroughJson() {
        MultiLayerConfiguration conf = DecoderNetwork.configuration(Tiny.config(1).withDataType(DataType.FLOAT),
                LossConfig.defaults(), new Adam(1e-3), 3, "auto");
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(conf.toJson());
        assertEquals(conf, back);
        assertEquals(conf.toJson(), back.toJson());
    }

    /**
     * {@code net.fit(DataSetIterator)} trains standard DPO (sigmoid) with references precomputed by the network
     * itself, through DL4J's AsyncDataSetIterator; a Mockito listener sees every iteration with the DPO loss as the
     * score; the model saves and restores.
     */
    @Test
    void fitTrainsStandardDpoThroughAsyncIteratorWithListeners(@TempDir File dir) throws Exception {
        DecoderConfig c = Tiny.config(1).withDataType(DataType.FLOAT);
        MultiLayerNetwork n = network(c, LossConfig.defaults().withBeta(0.5), new Adam(1e-2), 4);
        List<TokenizedExample> ex = GraphReferenceTest.examples(24, 3);
        PackConfig pc = PackConfig.defaults(32, 2, 5).withPrefetch(0);
        ReferenceStore refs = FrozenReference.copyOf(n).precompute(ex, pc);
        PreferenceDataSetIterator it = new PreferenceDataSetIterator(new PreferenceBatchIterator(ex, pc, refs),
                DataType.FLOAT);
        DataSet fixed = it.next();
        it.reset();
        double before = n.score(fixed);
        assertEquals(Math.log(2), before, 1e-5, "at the reference the sigmoid loss is log 2");

        TrainingListener listener = mock(TrainingListener.class);
        DpoMetricsListener metrics = new DpoMetricsListener(0);
        List<Double> scores = new ArrayList<>();
        List<Integer> iterations = new ArrayList<>();
        doAnswer(inv -> {
            scores.add(((Model) inv.getArgument(0)).score());
            iterations.add(inv.getArgument(1));
            return null;
        }).when(listener).iterationDone(same(n), anyInt(), anyInt());
        n.setListeners(listener, metrics);
        int perEpoch = 0;
        for (int epoch = 0; epoch < 3; epoch++) {
            n.fit(new AsyncDataSetIterator(it, 2));
            if (epoch == 0) {
                perEpoch = iterations.size();
            }
            it.reset();
        }
        assertTrue(perEpoch >= 4, "batches per epoch: " + perEpoch);
        verify(listener, times(3 * perEpoch)).iterationDone(same(n), anyInt(), anyInt());
        verify(listener, atLeastOnce()).onEpochEnd(same(n));
        List<Map<String, Double>> h = metrics.history();
        assertEquals(scores.size(), h.size());
        for (int i = 0; i < scores.size(); i++) {
            assertEquals(i, iterations.get(i).intValue());
            assertEquals(h.get(i).get("loss"), scores.get(i), 1e-6, "iteration " + i + ": score is the DPO loss");
        }
        double after = n.score(fixed);
        assertTrue(after < before, "loss did not fall: " + before + " -> " + after);

        File f = new File(dir, "net.zip");
        ModelSerializer.writeModel(n, f, true);
        MultiLayerNetwork r = ModelSerializer.restoreMultiLayerNetwork(f, true);
        assertEquals(n.params(), r.params());
        assertEquals(n.getUpdater().getStateViewArray(), r.getUpdater().getStateViewArray());
        assertEquals(n.score(fixed), r.score(fixed), 0.0);
        DataSet next = it.next();
        n.fit(next);
        r.fit(next);
        assertEquals(n.params(), r.params(), "continued training diverged after restore");
        verify(listener, times(3 * perEpoch + 1)).iterationDone(same(n), anyInt(), anyInt());
        verify(listener, times(1)).iterationDone(same(n), eq(3 * perEpoch), eq(3));
        assertFalse(n.params().isNaN().any());
    }

    @Test
    void masksAndAnotherRowLengthAreRefusedWithAMessage() {
        LossConfig loss = LossConfig.defaults();
        DataSet ds = PreferenceDataSetIterator.toDataSet(Tiny.data(Tiny.batch(2), DataType.DOUBLE), DataType.DOUBLE);
        INDArray mask = Nd4j.ones(DataType.DOUBLE, ds.getFeatures().size(0), ds.getFeatures().size(2));
        MultiLayerNetwork a = network(Tiny.config(1), loss, new NoOp(), 1);
        DataSet masked = new DataSet(ds.getFeatures(), ds.getLabels(), mask, null);
        String msg = GraphReferenceTest.rootMessage(assertThrows(RuntimeException.class, () -> a.fit(masked)));
        assertTrue(msg.contains("PrefixSharedEmbedding") && msg.contains("feature masks are not supported"), msg);

        MultiLayerNetwork b = network(Tiny.config(1), loss, new NoOp(), 1);
        DataSet labelMasked = new DataSet(ds.getFeatures(), ds.getLabels(), null, mask);
        msg = GraphReferenceTest.rootMessage(assertThrows(RuntimeException.class, () -> b.fit(labelMasked)));
        assertTrue(msg.contains("labels mask is not supported"), msg);

        MultiLayerNetwork c = network(Tiny.config(1), loss, new NoOp(), 1);
        c.fit(ds);
        long t = ds.getFeatures().size(2);
        DataSet longer = PreferenceDataSetIterator.toDataSet(DpoGraphIterator.convert(DpoGraphIterator.pad(
                org.prefixshare.pack.PreferenceBatchIterator.toMultiDataSet(Tiny.batch(2)), 2, (int) t + 3, 0),
                DataType.DOUBLE, 0.0), DataType.DOUBLE);
        msg = GraphReferenceTest.rootMessage(assertThrows(RuntimeException.class, () -> c.fit(longer)));
        assertTrue(msg.contains("T=" + (t + 3)) && msg.contains("T=" + t) && msg.contains("packLength"), msg);
    }

    /** DL4J's GradientCheckUtil (float64, central differences) on the whole network: embedding to DPO loss. */
    @Test
    void dl4jGradientCheckOfTheWholeNetwork() {
        DataType savedType = Nd4j.dataType();
        DataType savedFloat = Nd4j.defaultFloatingPointType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        try {
            MultiLayerNetwork n = network(Tiny.config(1), LossConfig.of(LossConfig.Term.parseList("sigmoid,ipo:0.3"))
                    .withBeta(1.0), new NoOp(), 11);
            n.params().assign(Nd4j.randn(DataType.DOUBLE, n.params().shape()).muli(0.3));
            for (Map.Entry<String, INDArray> e : DecoderNetwork.hfParameters(n).entrySet()) {
                if (e.getKey().endsWith("norm.weight")) {
                    e.getValue().addi(1.0);
                }
            }
            DataSet ds = PreferenceDataSetIterator.toDataSet(Tiny.data(Tiny.batch(6), DataType.DOUBLE),
                    DataType.DOUBLE);
            boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(n)
                    .input(ds.getFeatures()).labels(ds.getLabels()).epsilon(1e-5).maxRelError(1e-4)
                    .minAbsoluteError(1e-8).print(GradientCheckUtil.PrintMode.FAILURES_ONLY).exitOnFirstError(false)
                    .subset(true).maxPerParam(6));
            assertTrue(ok, "MultiLayerNetwork: DL4J gradient check failed");
        } finally {
            Nd4j.setDefaultDataTypes(savedType, savedFloat);
        }
    }
}
