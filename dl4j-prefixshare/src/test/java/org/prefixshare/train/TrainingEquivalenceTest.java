package org.prefixshare.train;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.EquivalenceCheck;
import org.prefixshare.ops.attention.Errors;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The central claim over a whole training run: 20 DPO steps (sigmoid loss, live reference, AdamW) from the same
 * initialisation on the same examples leave the same parameters whether each step's examples come as paired
 * sequences or as prefix-shared packed rows (float64, relative 1e-8).
 */
class TrainingEquivalenceTest {

    @Test
    void twentyStepsInBothFormatsLeaveTheSameParameters() {
        DecoderConfig cfg = DecoderConfig.tiny().withDataType(DataType.DOUBLE);
        DecoderModel shared = DecoderModel.create(cfg, 17);
        DecoderModel paired = DecoderModel.create(cfg, 17);
        DecoderModel reference = DecoderModel.create(cfg, 17);
        DpoObjective sharedLoss = new DpoObjective(shared, LossConfig.defaults());
        DpoObjective pairedLoss = new DpoObjective(paired, LossConfig.defaults());
        LrSchedule lr = new LrSchedule(1e-2, 2, 20, LrSchedule.Shape.COSINE);
        AdamW sharedOpt = new AdamW(shared.parameters(), lr, 0.01);
        AdamW pairedOpt = new AdamW(paired.parameters(), lr, 0.01);
        SplittableRandom rnd = new SplittableRandom(4);
        long id = 0;
        for (int step = 0; step < 20; step++) {
            List<TokenizedExample> examples = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                examples.add(EquivalenceCheck.randomExample(rnd, id++, cfg.vocabSize(), 12, 8, i == 0 ? 3 : 0));
            }
            LayoutBatch sb = EquivalenceCheck.sharedBatch(examples, 5, 3); // five documents in one row
            LayoutBatch pb = EquivalenceCheck.pairedBatch(examples, 0);
            double clipShared = step(shared, sharedLoss, sharedOpt, sb, reference.logps(sb), step);
            double clipPaired = step(paired, pairedLoss, pairedOpt, pb, reference.logps(pb), step);
            assertTrue(Math.abs(clipShared - clipPaired) <= 1e-9 * clipPaired, "gradient norm at step " + step
                    + ": shared " + clipShared + ", paired " + clipPaired);
        }
        double worst = 0;
        String worstName = null;
        Map<String, INDArray> ps = shared.parameters();
        Map<String, INDArray> pp = paired.parameters();
        for (String name : ps.keySet()) {
            double err = Errors.maxRelative(ps.get(name), pp.get(name));
            if (err > worst) {
                worst = err;
                worstName = name;
            }
        }
        System.out.printf("after 20 steps: max relative parameter difference %.3g (%s)%n", worst, worstName);
        assertTrue(worst <= 1e-8, "parameters differ after 20 steps: " + worst + " at " + worstName);
        double moved = Errors.maxRelative(ps.get(DecoderModel.EMBED), reference.parameters().get(DecoderModel.EMBED));
        assertTrue(moved > 1e-3, "training must have moved the weights, moved " + moved);
    }

    /** One optimiser step; returns the gradient norm. */
    private static double step(DecoderModel model, DpoObjective objective, AdamW opt, LayoutBatch batch,
                               INDArray refLogps, int step) {
        var og = model.sameDiff().calculateGradientsAndOutputs(objective.feeds(batch, refLogps, 0),
                List.of(objective.lossName()), model.parameterNames());
        Map<String, INDArray> grads = new java.util.LinkedHashMap<>(og.getGradients());
        double norm = AdamW.clipGlobalNorm(grads.values(), 0);
        opt.apply(model.parameters(), grads, step);
        return norm;
    }
}
