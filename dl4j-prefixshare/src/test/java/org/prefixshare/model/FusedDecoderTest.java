package org.prefixshare.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.ops.attention.Errors;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.fused.FusedDecoderLayer;
import org.prefixshare.ops.fused.FusedRmsNorm;
import org.prefixshare.ops.fused.FusedRope;
import org.prefixshare.ops.fused.FusedSwiGlu;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.prefixshare.testing.FusedKernelsSwitch.withFusedKernels;

/**
 * The whole decoder built with the fused ops (one {@link FusedDecoderLayer} per layer, a fused RMSNorm at the end)
 * equals the one built with their decomposed SameDiff formulation ({@code -Dprefixshare.fused=false}): sequence
 * log-probs and every parameter gradient, with and without q/k/v biases.
 */
class FusedDecoderTest {

    private static DecoderModel build(DecoderConfig cfg, boolean fused) {
        return withFusedKernels(fused, () -> {
            DecoderModel m = DecoderModel.create(cfg, 7, PrefixShareOps.Implementation.AUTO, 0.1);
            // a non-linear loss, so every sequence's gradient differs: sum(lp + 0.01 lp^2)
            m.setLoss((sd, logps) -> logps.add(logps.mul(logps).mul(0.01)).sum());
            return m;
        });
    }

    private static List<String> opNames(DecoderModel m) {
        List<String> names = new ArrayList<>();
        for (DifferentialFunction f : m.sameDiff().ops()) {
            names.add(f.opName());
        }
        return names;
    }

    /** {@link DecoderConfig#tiny()} with q/k/v biases (Qwen2's layout). */
    private static DecoderConfig tinyWithBias() {
        DecoderConfig t = DecoderConfig.tiny();
        return new DecoderConfig(t.vocabSize(), t.hiddenSize(), t.numLayers(), t.numHeads(), t.numKvHeads(),
                t.headDim(), t.intermediateSize(), t.ropeTheta(), t.rmsNormEps(), t.tieWordEmbeddings(),
                t.dataType(), true);
    }

    private static void check(DecoderConfig base, DataType dt, double tolerance) {
        DecoderConfig cfg = base.withDataType(dt);
        DecoderModel fused = build(cfg, true);
        DecoderModel plain = build(cfg, false);
        // one op per decoder layer; the final norm stays a fused RMSNorm
        assertEquals(cfg.numLayers(), opNames(fused).stream().filter(FusedDecoderLayer.OP_NAME::equals).count());
        assertTrue(opNames(fused).contains(FusedRmsNorm.OP_NAME));
        assertTrue(opNames(fused).stream().noneMatch(n -> n.equals(FusedRope.OP_NAME)
                || n.equals(FusedSwiGlu.OP_NAME)), opNames(fused).toString());
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
        check(DecoderConfig.tiny(), DataType.DOUBLE, 1e-12);
    }

    @Test
    void fusedDecoderEqualsDecomposedInFloat32() {
        check(DecoderConfig.tiny(), DataType.FLOAT, 1e-5);
    }

    @Test
    void fusedDecoderWithAttentionBiasesEqualsDecomposedInFloat64() {
        check(tinyWithBias(), DataType.DOUBLE, 1e-12);
    }

    @Test
    void fusedDecoderGraphSavesAndLoads(@TempDir Path dir) throws Exception {
        DecoderConfig cfg = DecoderConfig.tiny().withDataType(DataType.DOUBLE);
        DecoderModel m = build(cfg, true);
        LayoutBatch b = EquivalenceCheck.sharedBatch(DecoderModelTest.examples(3, 4, cfg.vocabSize()), 4, 2);
        Map<String, INDArray> feeds = m.feeds(b);
        Map<String, INDArray> before = m.sameDiff().calculateGradients(feeds, m.parameterNames());
        File f = dir.resolve("decoder.sd").toFile();
        m.sameDiff().save(f, false);
        SameDiff loaded = SameDiff.load(f, false);
        assertEquals(m.logps(b), loaded.output(feeds, DecoderModel.LOGPS).get(DecoderModel.LOGPS));
        Map<String, INDArray> after = loaded.calculateGradients(feeds, m.parameterNames());
        for (String n : m.parameterNames()) {
            assertEquals(before.get(n), after.get(n), n);
        }
    }
}
