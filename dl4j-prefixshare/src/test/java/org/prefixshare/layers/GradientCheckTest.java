package org.prefixshare.layers;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.RnnLossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DL4J's own GradientCheckUtil (float64, central differences) through every vertex and layer we ship and through a
 * whole tiny graph. This guards the M2.1 2x-gradient workaround: without {@link HalvedEpsilonGraphVertex} /
 * {@link HalvedEpsilonSameDiffLayer} the checks fail with relative error 1/3, and they fail again if a DL4J upgrade
 * fixes the bug while the workaround stays.
 */
class GradientCheckTest {

    private static DataType savedType;
    private static DataType savedFloatType;

    @BeforeAll
    static void doublePrecision() {
        savedType = Nd4j.dataType();
        savedFloatType = Nd4j.defaultFloatingPointType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @AfterAll
    static void restore() {
        Nd4j.setDefaultDataTypes(savedType, savedFloatType);
    }

    private static boolean check(ComputationGraph g, INDArray[] in, INDArray[] labels, boolean subset) {
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net(g).inputs(in).labels(labels)
                .epsilon(1e-5).maxRelError(1e-4).minAbsoluteError(1e-8)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY).exitOnFirstError(false)
                .subset(subset).maxPerParam(8));
    }

    /** in [B,H,T], position, node, subtreeEnd -> vertex -> MSE against random targets. */
    private static void checkVertex(org.deeplearning4j.nn.conf.graph.GraphVertex vertex, String what,
                                    boolean subset) {
        LayoutBatch b = Tiny.batch(3);
        MultiDataSet ds = Tiny.data(b, DataType.DOUBLE);
        long rows = ds.getFeatures(0).size(0);
        long t = ds.getFeatures(0).size(1);
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.DOUBLE)
                .updater(new NoOp()).graphBuilder()
                .addInputs("in", "position", "node", "subtreeEnd")
                .addVertex("v", vertex, "in", "position", "node", "subtreeEnd")
                .addLayer("out", new RnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY).build(), "v")
                .setOutputs("out").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        g.params().assign(Nd4j.rand(DataType.DOUBLE, g.params().shape()).subi(0.5));
        Nd4j.getRandom().setSeed(5);
        INDArray x = Nd4j.randn(DataType.DOUBLE, rows, 8, t).muli(0.1);
        INDArray y = Nd4j.randn(DataType.DOUBLE, rows, 8, t).muli(0.1);
        INDArray[] in = {x, ds.getFeatures(1), ds.getFeatures(2), ds.getFeatures(3)};
        assertTrue(check(g, in, new INDArray[]{y}, subset), what + ": DL4J gradient check failed");
    }

    @Test
    void prefixSharedSelfAttention() {
        checkVertex(new PrefixSharedSelfAttention.Builder().hiddenSize(8).numHeads(2).numKvHeads(1).headDim(4)
                .attentionBias(true).build(), "PrefixSharedSelfAttention", true);
    }

    @Test
    void decoderBlock() {
        checkVertex(new DecoderBlock.Builder().hiddenSize(8).numHeads(2).numKvHeads(1).headDim(4)
                .intermediateSize(12).build(), "DecoderBlock", true);
    }

    @Test
    void rmsNormLayer() {
        LayoutBatch b = Tiny.batch(4);
        long rows = b.rows().size();
        long t = b.length();
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.DOUBLE)
                .updater(new NoOp()).graphBuilder().addInputs("in")
                .addLayer("norm", new RmsNorm.Builder().size(8).build(), "in")
                .addLayer("out", new RnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY).build(), "norm")
                .setOutputs("out").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        g.params().assign(Nd4j.rand(DataType.DOUBLE, g.params().shape()).addi(0.5));
        INDArray x = Nd4j.randn(DataType.DOUBLE, rows, 8, t);
        INDArray y = Nd4j.randn(DataType.DOUBLE, rows, 8, t);
        assertTrue(check(g, new INDArray[]{x}, new INDArray[]{y}, false), "RmsNorm: DL4J gradient check failed");
    }

    @Test
    void dpoOutputLayerWithAWeightedLossMix() {
        LayoutBatch b = Tiny.batch(5);
        MultiDataSet ds = Tiny.data(b, DataType.DOUBLE);
        long rows = ds.getFeatures(0).size(0);
        long t = ds.getFeatures(0).size(1);
        LossConfig loss = LossConfig.of(LossConfig.Term.parseList("sigmoid,ipo:0.3,sft:0.5")).withBeta(0.5);
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.DOUBLE)
                .updater(new NoOp()).graphBuilder().addInputs("in")
                .addLayer("dpo", new DpoOutputLayer.Builder().hiddenSize(8).vocabSize(Tiny.VOCAB).loss(loss)
                        .initStd(0.5).build(), "in")
                .setOutputs("dpo").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        INDArray x = Nd4j.randn(DataType.DOUBLE, rows, 8, t);
        assertTrue(check(g, new INDArray[]{x}, ds.getLabels(), false), "DpoOutputLayer: DL4J gradient check failed");
    }

    @Test
    void wholeTinyGraphFromEmbeddingToDpoLoss() {
        DecoderConfig c = Tiny.config(1);
        ComputationGraph g = new ComputationGraph(DecoderGraph.configuration(c, LossConfig.defaults().withBeta(1.0),
                new NoOp(), 11, "auto"));
        g.init();
        g.params().assign(Nd4j.randn(DataType.DOUBLE, g.params().shape()).muli(0.3));
        for (java.util.Map.Entry<String, INDArray> e : DecoderGraph.hfParameters(g).entrySet()) {
            if (e.getKey().endsWith("norm.weight")) {
                e.getValue().addi(1.0);
            }
        }
        MultiDataSet ds = Tiny.data(Tiny.batch(6), DataType.DOUBLE);
        assertTrue(check(g, ds.getFeatures(), ds.getLabels(), true), "whole graph: DL4J gradient check failed");
    }
}
