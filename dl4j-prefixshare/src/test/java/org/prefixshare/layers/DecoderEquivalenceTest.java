package org.prefixshare.layers;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.learning.config.NoOp;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.train.DpoObjective;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ComputationGraph of our layers and the SameDiff decoder, same weights: same loss and gradients (float64). */
class DecoderEquivalenceTest {

    @Test
    void sameLossAndGradientsAsTheSameDiffDecoder() {
        DecoderConfig c = Tiny.config(2);
        LossConfig loss = LossConfig.of(LossConfig.Term.parseList("sigmoid,sft:0.5")).withBeta(0.5);
        DecoderModel model = DecoderModel.create(c, 7, PrefixShareOps.Implementation.AUTO, 0.3);
        DpoObjective objective = new DpoObjective(model, loss);
        LayoutBatch batch = Tiny.batch(21);
        DecoderModel.LossAndGradients expected = model.lossAndGradients(batch, objective.feeds(batch, null, 0.0));

        ComputationGraph g = new ComputationGraph(DecoderGraph.configuration(c, loss, new NoOp(), 1, "auto"));
        g.init();
        DecoderGraph.setHfParameters(g, model.parameters());
        MultiDataSet ds = Tiny.data(batch, DataType.DOUBLE);
        g.setInputs(ds.getFeatures());
        g.setLabels(ds.getLabels());
        g.computeGradientAndScore();
        double rows = batch.rows().size();

        double lossErr = Math.abs(g.score() - expected.loss()) / Math.abs(expected.loss());
        assertTrue(lossErr <= 1e-9, "loss: graph " + g.score() + " vs SameDiff decoder " + expected.loss());

        // the graph's raw gradient is of B * loss (DL4J divides by the minibatch in the updater)
        Map<String, INDArray> hf = DecoderGraph.hfParameters(g);
        Map<String, INDArray> grads = g.gradient().gradientForVariable();
        assertEquals(expected.gradients().keySet(), hf.keySet());
        assertEquals(hf.size(), grads.size());
        double worst = 0;
        String worstName = "";
        for (String dl4jKey : grads.keySet()) {
            int us = dl4jKey.indexOf('_');
            String name = dl4jKey.substring(0, us).replace('-', '_');
            String key = dl4jKey.substring(us + 1).replace('-', '_');
            String hfName = name.equals(DecoderGraph.OUTPUT) ? key : name + "." + key;
            if (name.equals(DecoderGraph.EMBED.replace('-', '_'))) {
                hfName = name + ".weight";
            }
            INDArray exp = expected.gradients().get(hfName);
            double err = Tiny.maxRelErr(grads.get(dl4jKey).div(rows), exp);
            if (err > worst) {
                worst = err;
                worstName = hfName;
            }
        }
        System.out.printf("DL4J graph vs SameDiff decoder: loss rel err %.3e, worst gradient rel err %.3e (%s)%n",
                lossErr, worst, worstName);
        assertTrue(worst <= 1e-9, "gradient " + worstName + " differs by " + worst);
    }
}
