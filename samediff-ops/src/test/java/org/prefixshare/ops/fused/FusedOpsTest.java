package org.prefixshare.ops.fused;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.validation.GradCheckUtil;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.attention.Errors;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.nativeload.NativeLibrary;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused RMSNorm, RoPE, SwiGLU, linear and label log-prob ops against their decomposed SameDiff formulation
 * (outputs and every input gradient, float64 to 1e-12 and float32 to 1e-5 relative to the max magnitude),
 * GradCheckUtil through each fused op in float64, a save/load round trip of a graph with four of them, the fallback
 * switch, and the error messages.
 */
class FusedOpsTest {

    private static final Logger log = LoggerFactory.getLogger(FusedOpsTest.class);

    /** The largest error of each comparison, logged at the end of each test (for the report). */
    private final Map<String, Double> worst = new LinkedHashMap<>();

    @BeforeAll
    static void nativeLoaded() {
        PrefixShareOps.init();
        assertTrue(NativeLibrary.isAvailable(), "native library: " + NativeLibrary.failure());
    }

    @AfterEach
    void logWorst() {
        worst.forEach((k, v) -> log.info("max error {}: {}", k, String.format("%.2e", v)));
        worst.clear();
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static double tolerance(DataType dt) {
        return dt == DataType.DOUBLE ? 1e-12 : 1e-5;
    }

    private static INDArray uniform(DataType dt, double lo, double hi, long... shape) {
        return Nd4j.rand(DataType.DOUBLE, shape).muli(hi - lo).addi(lo).castTo(dt);
    }

    /**
     * Builds a graph with variables {@code vars}, applies {@code op}, and returns "y" plus the gradients of
     * {@code sum(y * r)} with respect to every variable (keys "d" + name).
     */
    private static Map<String, INDArray> evaluate(Map<String, INDArray> vars, Map<String, INDArray> constants,
                                                  OpBuilder op, INDArray r) {
        SameDiff sd = SameDiff.create();
        Map<String, SDVariable> v = new LinkedHashMap<>();
        vars.forEach((k, a) -> v.put(k, sd.var(k, a.dup())));
        constants.forEach((k, a) -> v.put(k, sd.constant(k, a.dup())));
        SDVariable y = op.build(sd, v);
        y.rename("y");
        SDVariable loss = y.mul(sd.constant(r)).sum("loss");
        loss.markAsLoss();
        Map<String, INDArray> out = new LinkedHashMap<>();
        out.put("y", sd.output(Collections.emptyMap(), "y").get("y"));
        Map<String, INDArray> g = sd.calculateGradients(Collections.emptyMap(), vars.keySet().toArray(new String[0]));
        g.forEach((k, a) -> out.put("d" + k, a));
        return out;
    }

    @FunctionalInterface
    private interface OpBuilder {
        SDVariable build(SameDiff sd, Map<String, SDVariable> v);
    }

    /** Runs the fused and the decomposed builder on the same inputs and compares every result. */
    private void compare(String label, DataType dt, Map<String, INDArray> vars, Map<String, INDArray> constants,
                         OpBuilder fused, OpBuilder decomposed, long[] yShape) {
        INDArray r = uniform(dt, -1, 1, yShape);
        Map<String, INDArray> f = evaluate(vars, constants, fused, r);
        Map<String, INDArray> d = evaluate(vars, constants, decomposed, r);
        assertEquals(d.keySet(), f.keySet());
        for (String k : d.keySet()) {
            assertTrue(Arrays.equals(d.get(k).shape(), f.get(k).shape()),
                    label + " " + k + ": shape " + Arrays.toString(f.get(k).shape()) + " vs "
                            + Arrays.toString(d.get(k).shape()));
            assertEquals(dt, f.get(k).dataType(), label + " " + k);
            double e = Errors.maxRelative(f.get(k), d.get(k));
            worst.merge(dt + " " + label.split(" ")[0] + " " + k, e, Math::max);
            assertTrue(e <= tolerance(dt), label + " " + k + ": fused vs decomposed error " + e);
        }
    }

    // ------------------------------------------------------------------------------------------------ RMSNorm

    private static final long[][] ROW_SHAPES = {{1, 5}, {7, 64}, {33, 100}, {129, 333}, {4, 8}};

    @Test
    void rmsNormEqualsDecomposedInFloat64AndFloat32() {
        Nd4j.getRandom().setSeed(1);
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            for (long[] s : ROW_SHAPES) {
                for (boolean rowWeight : new boolean[]{false, true}) {
                    long h = s[1];
                    Map<String, INDArray> vars = new LinkedHashMap<>();
                    vars.put("x", uniform(dt, -2, 2, s));
                    vars.put("w", rowWeight ? uniform(dt, 0.5, 1.5, 1, h) : uniform(dt, 0.5, 1.5, h));
                    double eps = 1e-6;
                    compare("rmsNorm " + Arrays.toString(s) + (rowWeight ? " w[1,H]" : " w[H]"), dt, vars, Map.of(),
                            (sd, v) -> FusedOps.fusedRmsNorm(sd, v.get("x"), v.get("w"), eps),
                            (sd, v) -> FusedOps.decomposedRmsNorm(sd, v.get("x"), v.get("w"), eps), s);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ RoPE

    /** HF tables for positions 0, 3, 6, ... : cos and sin [M,D]. */
    static INDArray[] ropeTables(long m, int d, DataType dt) {
        double[][] c = new double[(int) m][d];
        double[][] s = new double[(int) m][d];
        for (int t = 0; t < m; t++) {
            for (int j = 0; j < d; j++) {
                double angle = (3.0 * t) * Math.pow(10000.0, -2.0 * (j % (d / 2)) / d);
                c[t][j] = Math.cos(angle);
                s[t][j] = Math.sin(angle);
            }
        }
        return new INDArray[]{Nd4j.createFromArray(c).castTo(dt), Nd4j.createFromArray(s).castTo(dt)};
    }

    @Test
    void ropeEqualsDecomposedInFloat64AndFloat32() {
        Nd4j.getRandom().setSeed(2);
        long[] ms = {1, 13, 65};
        int[] heads = {1, 3, 4};
        int[] dims = {16, 32, 64, 128};
        int c = 0;
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            for (int d : dims) {
                for (int h : heads) {
                    long m = ms[c++ % ms.length];
                    INDArray[] t = ropeTables(m, d, dt);
                    Map<String, INDArray> vars = Map.of("x", uniform(dt, -2, 2, m, (long) h * d));
                    Map<String, INDArray> constants = Map.of("cos", t[0], "sin", t[1]);
                    compare("rope M=" + m + " heads=" + h + " D=" + d, dt, vars, constants,
                            (sd, v) -> FusedOps.fusedRope(sd, v.get("x"), v.get("cos"), v.get("sin")),
                            (sd, v) -> FusedOps.decomposedRope(sd, v.get("x"), v.get("cos"), v.get("sin")),
                            new long[]{m, (long) h * d});
                }
            }
        }
    }

    @Test
    void ropeGivesZeroGradientsToTheTables() {
        INDArray[] t = ropeTables(5, 16, DataType.DOUBLE);
        Map<String, INDArray> vars = new LinkedHashMap<>();
        vars.put("x", uniform(DataType.DOUBLE, -1, 1, 5, 32));
        vars.put("cos", t[0]);
        vars.put("sin", t[1]);
        Map<String, INDArray> g = evaluate(vars, Map.of(),
                (sd, v) -> FusedOps.fusedRope(sd, v.get("x"), v.get("cos"), v.get("sin")),
                uniform(DataType.DOUBLE, -1, 1, 5, 32));
        assertEquals(0.0, g.get("dcos").norm1Number().doubleValue());
        assertEquals(0.0, g.get("dsin").norm1Number().doubleValue());
        assertTrue(g.get("dx").norm1Number().doubleValue() > 0);
    }

    // ------------------------------------------------------------------------------------------------ SwiGLU

    @Test
    void swiGluEqualsDecomposedInFloat64AndFloat32() {
        Nd4j.getRandom().setSeed(3);
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            for (long[] s : ROW_SHAPES) {
                Map<String, INDArray> vars = new LinkedHashMap<>();
                vars.put("gate", uniform(dt, -8, 8, s));
                vars.put("up", uniform(dt, -2, 2, s));
                compare("swiGlu " + Arrays.toString(s), dt, vars, Map.of(),
                        (sd, v) -> FusedOps.fusedSwiGlu(sd, v.get("gate"), v.get("up")),
                        (sd, v) -> FusedOps.decomposedSwiGlu(sd, v.get("gate"), v.get("up")), s);
            }
        }
    }

    @Test
    void swiGluIsFiniteForLargeGates() {
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            INDArray gate = Nd4j.createFromArray(new double[][]{{-1000, -100, -88.5, 0, 88.5, 100, 1000}}).castTo(dt);
            INDArray up = Nd4j.ones(dt, 1, 7);
            Map<String, INDArray> g = evaluate(Map.of("gate", gate, "up", up), Map.of(),
                    (sd, v) -> FusedOps.fusedSwiGlu(sd, v.get("gate"), v.get("up")), Nd4j.ones(dt, 1, 7));
            for (Map.Entry<String, INDArray> e : g.entrySet()) {
                INDArray a = e.getValue().castTo(DataType.DOUBLE);
                for (long i = 0; i < a.length(); i++) {
                    assertTrue(Double.isFinite(a.getDouble(i)), dt + " " + e.getKey() + "[" + i + "] = "
                            + a.getDouble(i));
                }
            }
            assertEquals(1000.0, g.get("y").getDouble(0, 6), 1e-9);
            assertEquals(0.0, g.get("y").getDouble(0, 0), 1e-30);
        }
    }

    // ------------------------------------------------------------------------------------------------ linear

    /**
     * (rows, in, out): tails of the 6-row micro-tile and of the 16-column panel, a depth past one 256 block. (1 x 1
     * shapes are left to ps_gemm_test: ND4J's matmul_bp, the oracle here, fails on them.)
     */
    private static final long[][] LINEAR_SHAPES = {{2, 3, 5}, {7, 5, 19}, {33, 64, 16}, {130, 300, 33}, {600, 128, 352}};

    @Test
    void linearEqualsDecomposedInFloat64AndFloat32() {
        Nd4j.getRandom().setSeed(8);
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            for (long[] s : LINEAR_SHAPES) {
                Map<String, INDArray> vars = new LinkedHashMap<>();
                vars.put("x", uniform(dt, -1, 1, s[0], s[1]));
                vars.put("w", uniform(dt, -1, 1, s[2], s[1]));
                compare("linear " + Arrays.toString(s), dt, vars, Map.of(),
                        (sd, v) -> FusedOps.fusedLinear(sd, v.get("x"), v.get("w")),
                        (sd, v) -> FusedOps.decomposedLinear(sd, v.get("x"), v.get("w")), new long[]{s[0], s[2]});
            }
        }
    }

    /** (rows, in, out) for bfloat16 weights: odd sizes, 1 x 1, a depth and a width past one packing chunk. */
    private static final long[][] BF16_SHAPES = {{1, 1, 1}, {7, 97, 1025}, {97, 1025, 7}, {1025, 7, 97}, {5, 1025, 2100},
            {33, 64, 16}};

    /** A float32 array holding bfloat16 values (ND4J's cast rounds), and the same values stored as BFLOAT16. */
    private static INDArray[] bf16Pair(long... shape) {
        INDArray h = Nd4j.rand(DataType.FLOAT, shape).subi(0.5f).castTo(DataType.BFLOAT16);
        return new INDArray[]{h.castTo(DataType.FLOAT), h};
    }

    @Test
    void linearWithBfloat16WeightEqualsFloat32WeightBitForBit() {
        Nd4j.getRandom().setSeed(12);
        for (long[] s : BF16_SHAPES) {
            INDArray x = uniform(DataType.FLOAT, -1, 1, s[0], s[1]);
            INDArray dy = uniform(DataType.FLOAT, -1, 1, s[0], s[2]);
            INDArray[] w = bf16Pair(s[2], s[1]);
            String at = Arrays.toString(s);
            INDArray y0 = Nd4j.rand(DataType.FLOAT, s[0], s[2]);
            INDArray y32 = y0.dup();
            INDArray y16 = y0.dup();
            FusedKernels.linearForward("t", x, w[0], y32, true);
            FusedKernels.linearForward("t", x, w[1], y16, true);
            assertEquals(y32, y16, "y " + at);
            assertTrue(Errors.maxRelative(y32.sub(y0), x.mmul(w[0].transpose())) <= 1e-5, "y vs ND4J " + at);

            INDArray dx32 = Nd4j.create(DataType.FLOAT, s[0], s[1]);
            INDArray dw32 = Nd4j.create(DataType.FLOAT, s[2], s[1]);
            INDArray dx16 = Nd4j.create(DataType.FLOAT, s[0], s[1]);
            INDArray dxFrozen = Nd4j.create(DataType.FLOAT, s[0], s[1]);
            FusedKernels.linearBackward("t", x, w[0], dy, dx32, dw32);
            FusedKernels.linearBackward("t", x, w[1], dy, dx16, null);
            FusedKernels.linearBackward("t", x, w[0], dy, dxFrozen, null);
            assertEquals(dx32, dx16, "dx, bfloat16 frozen w " + at);
            assertEquals(dx32, dxFrozen, "dx, float32 frozen w " + at);
            assertTrue(Errors.maxRelative(dx32, dy.mmul(w[0])) <= 1e-5, "dx vs ND4J " + at);
            assertTrue(Errors.maxRelative(dw32, dy.transpose().mmul(x)) <= 1e-5, "dw vs ND4J " + at);
        }
    }

    @Test
    void linearAccumulatesIntoDxWithAFrozenWeight() {
        INDArray x = uniform(DataType.FLOAT, -1, 1, 9, 20);
        INDArray dy = uniform(DataType.FLOAT, -1, 1, 9, 30);
        INDArray[] w = bf16Pair(30, 20);
        INDArray before = uniform(DataType.FLOAT, -1, 1, 9, 20);
        INDArray dx = before.dup();
        FusedKernels.linearBackward("t", x, w[1], dy, dx, null, true);
        assertTrue(Errors.maxRelative(dx, before.add(dy.mmul(w[0]))) <= 1e-6);
    }

    @Test
    void fusedLinearGivesABfloat16WeightNoGradient() {
        Nd4j.getRandom().setSeed(13);
        INDArray[] w = bf16Pair(19, 11);
        INDArray x = uniform(DataType.FLOAT, -1, 1, 7, 11);
        INDArray r = uniform(DataType.FLOAT, -1, 1, 7, 19);
        Map<String, INDArray> g = new LinkedHashMap<>();
        for (int i = 0; i < 2; i++) {
            SameDiff sd = SameDiff.create();
            SDVariable xv = sd.var("x", x.dup());
            SDVariable wv = sd.constant("w", w[i].dup());
            SDVariable y = FusedOps.fusedLinear(sd, xv, wv).rename("y");
            y.mul(sd.constant(r)).sum("loss").markAsLoss();
            g.put("y" + i, sd.output(Collections.emptyMap(), "y").get("y"));
            g.put("dx" + i, sd.calculateGradients(Collections.emptyMap(), "x").get("x"));
            int bpOps = 0;
            for (DifferentialFunction f : sd.getFunction("grad").ops()) {
                if (f instanceof FusedLinearBp) {
                    assertEquals(2 - i, f.outputVariables().length, "a frozen weight's backward computes dx only");
                    bpOps++;
                }
            }
            assertEquals(1, bpOps);
        }
        assertEquals(g.get("y0"), g.get("y1"));
        assertEquals(g.get("dx0"), g.get("dx1"));
    }

    // ------------------------------------------------------------------------------------------------ label log-probs

    /**
     * (N, V): tails of the 8-lane vector, the bench model's byte vocabulary, an odd width. (V = 1 is left to
     * ps_pointwise_test: ND4J's reduce ops, the oracle here, fail on a [N,1] input.)
     */
    private static final long[][] LABEL_SHAPES = {{3, 2}, {1, 5}, {7, 64}, {33, 260}, {129, 333}};

    /** Token ids for n rows of a vocabulary v, float-typed like the model's placeholders. */
    private static INDArray labels(long n, long v, DataType dt) {
        return Nd4j.rand(DataType.DOUBLE, n).muli(v).castTo(DataType.INT32).castTo(dt);
    }

    @Test
    void labelLogProbsEqualDecomposedInFloat64AndFloat32() {
        Nd4j.getRandom().setSeed(10);
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            for (long[] s : LABEL_SHAPES) {
                Map<String, INDArray> vars = Map.of("logits", uniform(dt, -12, 12, s));
                Map<String, INDArray> constants = Map.of("labels", labels(s[0], s[1], dt));
                compare("labelLogProbs " + Arrays.toString(s), dt, vars, constants,
                        (sd, v) -> FusedOps.fusedLabelLogProbs(sd, v.get("logits"), v.get("labels")),
                        (sd, v) -> FusedOps.decomposedLabelLogProbs(sd, v.get("logits"), v.get("labels"),
                                (int) s[1]), new long[]{s[0]});
            }
        }
    }

    @Test
    void labelLogProbsMatchFloat64Formula() {
        // one row by hand: logits (1, 2, 3), label 2: log(e^3 / (e + e^2 + e^3)); gradient onehot - softmax
        SameDiff sd = SameDiff.create();
        SDVariable logits = sd.var("logits", Nd4j.createFromArray(new double[][]{{1, 2, 3}}));
        SDVariable y = FusedOps.fusedLabelLogProbs(sd, logits, sd.constant(Nd4j.createFromArray(2.0)))
                .rename("y");
        y.sum("loss").markAsLoss();
        double z = Math.exp(1) + Math.exp(2) + Math.exp(3);
        assertEquals(3 - Math.log(z), sd.output(Collections.emptyMap(), "y").get("y").getDouble(0), 1e-15);
        INDArray g = sd.calculateGradients(Collections.emptyMap(), "logits").get("logits");
        assertEquals(-Math.exp(1) / z, g.getDouble(0, 0), 1e-15);
        assertEquals(-Math.exp(2) / z, g.getDouble(0, 1), 1e-15);
        assertEquals(1 - Math.exp(3) / z, g.getDouble(0, 2), 1e-15);
    }

    @Test
    void labelOutsideTheVocabularyFailsNamingItsPosition() {
        SameDiff sd = SameDiff.create();
        SDVariable logits = sd.var("logits", Nd4j.randn(DataType.FLOAT, 3, 260));
        SDVariable y = FusedOps.fusedLabelLogProbs(sd, logits,
                sd.constant(Nd4j.createFromArray(4f, 259f, 260f)));
        Exception e = assertThrows(RuntimeException.class, () -> sd.output(Collections.emptyMap(), y.name()));
        assertTrue(messages(e).contains("prefixshare_label_logprobs") && messages(e).contains("label 260 at position "
                + "2 is outside the vocabulary [0, 260)"), messages(e));
    }

    // ------------------------------------------------------------------------------------------------ grad checks

    /** GradCheckUtil over every variable of sd in float64 (also used by {@link FusedDecoderLayerTest}). */
    static boolean gradCheck(SameDiff sd) {
        DataType defaultType = Nd4j.dataType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE); // GradCheckUtil insists
        try {
            return GradCheckUtil.checkGradients(sd, Collections.emptyMap(), 1e-6, 1e-5, 1e-10, false, false);
        } finally {
            Nd4j.setDefaultDataTypes(defaultType, defaultType);
        }
    }

    private static SameDiff lossOf(SameDiff sd, SDVariable y, long... shape) {
        SDVariable loss = y.mul(sd.constant("r", Nd4j.rand(DataType.DOUBLE, shape).subi(0.5))).sum("loss");
        loss.markAsLoss();
        return sd;
    }

    @Test
    void gradCheckPassesThroughFusedRmsNorm() {
        Nd4j.getRandom().setSeed(4);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.var("x", Nd4j.randn(DataType.DOUBLE, 5, 13));
        SDVariable w = sd.var("w", Nd4j.rand(DataType.DOUBLE, 13).addi(0.5));
        assertTrue(gradCheck(lossOf(sd, FusedOps.fusedRmsNorm(sd, x, w, 1e-5), 5, 13)), "GradCheckUtil rms_norm");
    }

    @Test
    void gradCheckPassesThroughFusedRope() {
        Nd4j.getRandom().setSeed(5);
        SameDiff sd = SameDiff.create();
        INDArray[] t = ropeTables(6, 16, DataType.DOUBLE);
        SDVariable x = sd.var("x", Nd4j.randn(DataType.DOUBLE, 6, 32));
        SDVariable y = FusedOps.fusedRope(sd, x, sd.constant("cos", t[0]), sd.constant("sin", t[1]));
        assertTrue(gradCheck(lossOf(sd, y, 6, 32)), "GradCheckUtil rope");
    }

    @Test
    void gradCheckPassesThroughFusedSwiGlu() {
        Nd4j.getRandom().setSeed(6);
        SameDiff sd = SameDiff.create();
        SDVariable gate = sd.var("gate", Nd4j.randn(DataType.DOUBLE, 7, 9).muli(3));
        SDVariable up = sd.var("up", Nd4j.randn(DataType.DOUBLE, 7, 9));
        assertTrue(gradCheck(lossOf(sd, FusedOps.fusedSwiGlu(sd, gate, up), 7, 9)), "GradCheckUtil swiglu");
    }

    @Test
    void gradCheckPassesThroughFusedLinear() {
        Nd4j.getRandom().setSeed(9);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.var("x", Nd4j.randn(DataType.DOUBLE, 7, 11));
        SDVariable w = sd.var("w", Nd4j.randn(DataType.DOUBLE, 18, 11));
        assertTrue(gradCheck(lossOf(sd, FusedOps.fusedLinear(sd, x, w), 7, 18)), "GradCheckUtil linear");
    }

    @Test
    void gradCheckPassesThroughFusedLabelLogProbs() {
        Nd4j.getRandom().setSeed(11);
        SameDiff sd = SameDiff.create();
        SDVariable logits = sd.var("logits", Nd4j.randn(DataType.DOUBLE, 6, 10).muli(2));
        SDVariable y = FusedOps.fusedLabelLogProbs(sd, logits, sd.constant("labels", labels(6, 10, DataType.DOUBLE)));
        assertTrue(gradCheck(lossOf(sd, y, 6)), "GradCheckUtil label_logprobs");
    }

    // ------------------------------------------------------------------------------------------------ save / load

    @Test
    void graphWithTheFourOpsSavesAndLoads(@TempDir File dir) throws Exception {
        Nd4j.getRandom().setSeed(7);
        int m = 9;
        int heads = 2;
        int d = 16;
        int hidden = heads * d;
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, hidden);
        INDArray[] t = ropeTables(m, d, DataType.FLOAT);
        SDVariable cos = sd.placeHolder("cos", DataType.FLOAT, -1, d);
        SDVariable sin = sd.placeHolder("sin", DataType.FLOAT, -1, d);
        SDVariable norm = sd.var("norm", Nd4j.rand(DataType.FLOAT, hidden).addi(0.5f));
        SDVariable wg = sd.var("wg", Nd4j.randn(DataType.FLOAT, 24, hidden).muli(0.2f));
        SDVariable wu = sd.var("wu", Nd4j.randn(DataType.FLOAT, 24, hidden).muli(0.2f));
        SDVariable n = FusedOps.fusedRmsNorm(sd, x, norm, 1e-6);
        SDVariable r = FusedOps.fusedRope(sd, n, cos, sin);
        SDVariable act = FusedOps.fusedSwiGlu(sd, FusedOps.fusedLinear(sd, r, wg), FusedOps.fusedLinear(sd, r, wu));
        act.rename("act");
        SDVariable loss = act.mul(act).mean("loss");
        loss.markAsLoss();

        Map<String, INDArray> feed = new LinkedHashMap<>();
        feed.put("x", Nd4j.randn(DataType.FLOAT, m, hidden));
        feed.put("cos", t[0]);
        feed.put("sin", t[1]);
        INDArray before = sd.output(feed, "act").get("act");
        Map<String, INDArray> gradsBefore = sd.calculateGradients(feed, "norm", "wg", "wu");

        File file = new File(dir, "fused.sd");
        sd.save(file, true);
        SameDiff loaded = SameDiff.load(file, true);
        List<String> ops = new ArrayList<>();
        for (DifferentialFunction f : loaded.ops()) {
            ops.add(f.opName());
        }
        assertTrue(ops.containsAll(List.of(FusedRmsNorm.OP_NAME, FusedRope.OP_NAME, FusedSwiGlu.OP_NAME,
                FusedLinear.OP_NAME)), ops.toString());
        assertEquals(before, loaded.output(feed, "act").get("act"), "loaded graph gives the same output");
        Map<String, INDArray> gradsAfter = loaded.calculateGradients(feed, "norm", "wg", "wu");
        for (String k : gradsBefore.keySet()) {
            assertEquals(gradsBefore.get(k), gradsAfter.get(k), "gradient of " + k + " after load");
        }
    }

    // ------------------------------------------------------------------------------------------------ facade

    @Test
    void facadeBuildsFusedOpsByDefaultAndDecomposedWhenDisabled() {
        assertTrue(FusedOps.enabled());
        assertTrue(opNames(this::everyOp).containsAll(List.of(FusedRmsNorm.OP_NAME, FusedRope.OP_NAME,
                FusedSwiGlu.OP_NAME, FusedLinear.OP_NAME, FusedLabelLogProbs.OP_NAME)));
        String old = System.getProperty(FusedOps.PROPERTY);
        System.setProperty(FusedOps.PROPERTY, "false");
        try {
            assertFalse(FusedOps.enabled());
            List<String> names = opNames(this::everyOp);
            assertTrue(names.stream().noneMatch(s -> s.startsWith("prefixshare_")), names.toString());
        } finally {
            if (old == null) {
                System.clearProperty(FusedOps.PROPERTY);
            } else {
                System.setProperty(FusedOps.PROPERTY, old);
            }
        }
    }

    private void everyOp(SameDiff sd) {
        INDArray[] t = ropeTables(3, 8, DataType.FLOAT);
        SDVariable x = sd.var("x", Nd4j.randn(DataType.FLOAT, 3, 16));
        SDVariable n = FusedOps.rmsNorm(sd, x, sd.var("w", Nd4j.ones(DataType.FLOAT, 16)), 1e-6);
        SDVariable r = FusedOps.rope(sd, n, sd.constant(t[0]), sd.constant(t[1]));
        SDVariable logits = FusedOps.linear(sd, FusedOps.swiGlu(sd, r, x),
                sd.var("proj", Nd4j.ones(DataType.FLOAT, 4, 16)));
        FusedOps.labelLogProbs(sd, logits, sd.constant(Nd4j.createFromArray(0f, 3f, 1f)), 4);
    }

    private static List<String> opNames(java.util.function.Consumer<SameDiff> build) {
        SameDiff sd = SameDiff.create();
        build.accept(sd);
        List<String> names = new ArrayList<>();
        for (DifferentialFunction f : sd.ops()) {
            names.add(f.opName());
        }
        return names;
    }

    // ------------------------------------------------------------------------------------------------ errors

    @Test
    void badShapesFailWithTheOpNameAndTheShapes() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.var("x", Nd4j.randn(DataType.FLOAT, 4, 24));
        SDVariable y = FusedOps.fusedRmsNorm(sd, x, sd.var("w", Nd4j.ones(DataType.FLOAT, 25)), 1e-6);
        Exception e = assertThrows(RuntimeException.class, () -> sd.output(Collections.emptyMap(), y.name()));
        assertTrue(messages(e).contains("prefixshare_rms_norm") && messages(e).contains("[25]"), messages(e));

        SameDiff sd2 = SameDiff.create();
        SDVariable x2 = sd2.var("x", Nd4j.randn(DataType.FLOAT, 4, 24));
        SDVariable odd = sd2.constant("cos", Nd4j.ones(DataType.FLOAT, 4, 3));
        SDVariable y2 = FusedOps.fusedRope(sd2, x2, odd, odd);
        e = assertThrows(RuntimeException.class, () -> sd2.output(Collections.emptyMap(), y2.name()));
        assertTrue(messages(e).contains("prefixshare_rope") && messages(e).contains("D even"), messages(e));

        SameDiff sd3 = SameDiff.create();
        SDVariable g = sd3.var("g", Nd4j.randn(DataType.FLOAT, 4, 24));
        SDVariable y3 = FusedOps.fusedSwiGlu(sd3, g, sd3.var("u", Nd4j.randn(DataType.FLOAT, 4, 23)));
        e = assertThrows(RuntimeException.class, () -> sd3.output(Collections.emptyMap(), y3.name()));
        assertTrue(messages(e).contains("prefixshare_swiglu") && messages(e).contains("[4, 23]"), messages(e));

        SameDiff sd4 = SameDiff.create();
        SDVariable x4 = sd4.var("x", Nd4j.randn(DataType.FLOAT, 4, 24));
        SDVariable y4 = FusedOps.fusedLinear(sd4, x4, sd4.var("w", Nd4j.randn(DataType.FLOAT, 8, 23)));
        e = assertThrows(RuntimeException.class, () -> sd4.output(Collections.emptyMap(), y4.name()));
        assertTrue(messages(e).contains("prefixshare_linear") && messages(e).contains("[8, 23]"), messages(e));
    }

    private static String messages(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            b.append(c.getMessage()).append(" | ");
        }
        return b.toString();
    }
}
