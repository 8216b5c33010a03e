package org.prefixshare.model;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.ops.attention.Errors;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.fused.FusedOps;
import org.prefixshare.ops.fused.FusedRmsNorm;
import org.prefixshare.ops.fused.FusedRope;
import org.prefixshare.ops.fused.FusedSwiGlu;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole decoder built with the fused RMSNorm / RoPE / SwiGLU ops equals the one built with their decomposed
 * SameDiff formulation ({@code -Dprefixshare.fused=false}): sequence log-probs and every parameter gradient.
 */
class FusedDecoderTest {

    private static DecoderModel build(DecoderConfig cfg, boolean fused) {
        String old = System.getProperty(FusedOps.PROPERTY);
        System.setProperty(FusedOps.PROPERTY, Boolean.toString(fused));
        try {
            DecoderModel m = DecoderModel.create(cfg, 7, PrefixShareOps.Implementation.AUTO, 0.1);
            // a non-linear loss, so every sequence's gradient differs: sum(lp + 0.01 lp^2)
            m.setLoss((sd, logps) -> logps.add(logps.mul(logps).mul(0.01)).sum());
            return m;
        } finally {
            if (old == null) {
                System.clearProperty(FusedOps.PROPERTY);
            } else {
                System.setProperty(FusedOps.PROPERTY, old);
            }
        }
    }

    private static List<String> opNames(DecoderModel m) {
        List<String> names = new ArrayList<>();
        for (DifferentialFunction f : m.sameDiff().ops()) {
            names.add(f.opName());
        }
        return names;
    }

    private static void check(DataType dt, double tolerance) {
        DecoderConfig cfg = DecoderConfig.tiny().withDataType(dt);
        DecoderModel fused = build(cfg, true);
        DecoderModel plain = build(cfg, false);
        assertTrue(opNames(fused).containsAll(List.of(FusedRmsNorm.OP_NAME, FusedRope.OP_NAME, FusedSwiGlu.OP_NAME)));
        assertTrue(opNames(plain).stream().noneMatch(n -> n.startsWith("prefixshare_") && !n.contains("attention")
                && !n.contains("gather")), opNames(plain).toString());
        LayoutBatch b = EquivalenceCheck.sharedBatch(DecoderModelTest.examples(5, 6, cfg.vocabSize()), 4, 2);
        DecoderModel.LossAndGradients f = fused.lossAndGradients(b, Collections.emptyMap());
        DecoderModel.LossAndGradients p = plain.lossAndGradients(b, Collections.emptyMap());
        double worst = Errors.maxRelative(f.logps(), p.logps());
        assertTrue(worst <= tolerance, dt + " logps: " + worst);
        String worstName = "logps";
        for (String n : p.gradients().keySet()) {
            INDArray gf = f.gradients().get(n);
            INDArray gp = p.gradients().get(n);
            double e = Errors.maxRelative(gf, gp);
            assertTrue(e <= tolerance, dt + " gradient of " + n + ": fused vs decomposed " + e);
            if (e > worst) {
                worst = e;
                worstName = n;
            }
        }
        System.out.printf("fused vs decomposed decoder, %s: worst relative error %.2e (%s)%n", dt, worst, worstName);
    }

    @Test
    void fusedDecoderEqualsDecomposedInFloat64() {
        check(DataType.DOUBLE, 1e-12);
    }

    @Test
    void fusedDecoderEqualsDecomposedInFloat32() {
        check(DataType.FLOAT, 1e-5);
    }
}
