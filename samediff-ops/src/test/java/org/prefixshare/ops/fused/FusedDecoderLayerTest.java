package org.prefixshare.ops.fused;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.attention.Errors;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.nativeload.NativeLibrary;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FusedDecoderLayer} against the same layer written out in decomposed SameDiff ops with the dense reference
 * attention (an independent oracle): output and the gradients of h and of every weight, float64 to 1e-12 and float32
 * to 1e-5, with GQA, q/k/v biases, two rows holding several documents, an empty prompt and both kinds of padding;
 * GradCheckUtil through the op; a clear error for inconsistent shapes.
 */
class FusedDecoderLayerTest {

    private static final String[] WEIGHTS = {"ln1", "wq", "wk", "wv", "wo", "ln2", "wg", "wu", "wd", "bq", "bk", "bv"};

    @BeforeAll
    static void nativeLoaded() {
        PrefixShareOps.init();
        assertTrue(NativeLibrary.isAvailable(), "native library: " + NativeLibrary.failure());
    }

    /** Shapes of one test layer. */
    private record Dims(int hidden, int headsQ, int headsKv, int headDim, int inter, boolean bias) {
    }

    /**
     * Two rows of T = 19: row 0 a document (prompt 5, responses 4 and 3), then one with an empty prompt (responses 2
     * and 2), then padding with a node per token; row 1 a causal document of 9, then padding as one node.
     */
    private static int[][][] layout() {
        int[] n0 = {0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 4, 4, 5, 5, 6, 7, 8};
        int[] e0 = {2, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 4, 4, 5, 5, 6, 7, 8};
        int[] n1 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        return new int[][][]{{n0, n1}, {e0, n1}};
    }

    private static Map<String, INDArray> inputs(Dims d, long rows, DataType dt, long seed) {
        Nd4j.getRandom().setSeed(seed);
        int q = d.headsQ() * d.headDim();
        int kv = d.headsKv() * d.headDim();
        Map<String, INDArray> m = new LinkedHashMap<>();
        m.put("h", Nd4j.randn(DataType.DOUBLE, rows, d.hidden()));
        m.put("ln1", Nd4j.rand(DataType.DOUBLE, d.hidden()).addi(0.5));
        m.put("wq", Nd4j.randn(DataType.DOUBLE, q, d.hidden()).muli(0.3));
        m.put("wk", Nd4j.randn(DataType.DOUBLE, kv, d.hidden()).muli(0.3));
        m.put("wv", Nd4j.randn(DataType.DOUBLE, kv, d.hidden()).muli(0.3));
        m.put("wo", Nd4j.randn(DataType.DOUBLE, d.hidden(), q).muli(0.3));
        m.put("ln2", Nd4j.rand(DataType.DOUBLE, d.hidden()).addi(0.5));
        m.put("wg", Nd4j.randn(DataType.DOUBLE, d.inter(), d.hidden()).muli(0.3));
        m.put("wu", Nd4j.randn(DataType.DOUBLE, d.inter(), d.hidden()).muli(0.3));
        m.put("wd", Nd4j.randn(DataType.DOUBLE, d.hidden(), d.inter()).muli(0.3));
        if (d.bias()) {
            m.put("bq", Nd4j.randn(DataType.DOUBLE, q).muli(0.1));
            m.put("bk", Nd4j.randn(DataType.DOUBLE, kv).muli(0.1));
            m.put("bv", Nd4j.randn(DataType.DOUBLE, kv).muli(0.1));
        }
        m.replaceAll((k, a) -> a.castTo(dt));
        return m;
    }

    /** The layer on {@code v}: fused, or decomposed with the dense reference attention. */
    private static SDVariable layer(SameDiff sd, Map<String, SDVariable> v, Dims d, SDVariable[] rope,
                                    SDVariable node, SDVariable end, boolean fused) {
        double eps = 1e-5;
        double scale = 1.0 / Math.sqrt(d.headDim());
        SDVariable h = v.get("h");
        if (fused) {
            DecoderLayerWeights w = new DecoderLayerWeights(v.get("ln1"), v.get("wq"), v.get("wk"), v.get("wv"),
                    v.get("wo"), v.get("ln2"), v.get("wg"), v.get("wu"), v.get("wd"), v.get("bq"), v.get("bk"),
                    v.get("bv"));
            return FusedOps.decoderLayer(sd, h, w, rope[0], rope[1], node, end, eps, scale);
        }
        SDVariable x = FusedOps.decomposedRmsNorm(sd, h, v.get("ln1"), eps);
        SDVariable q = biased(FusedOps.decomposedLinear(sd, x, v.get("wq")), v.get("bq"));
        SDVariable k = biased(FusedOps.decomposedLinear(sd, x, v.get("wk")), v.get("bk"));
        SDVariable val = biased(FusedOps.decomposedLinear(sd, x, v.get("wv")), v.get("bv"));
        q = FusedOps.decomposedRope(sd, q, rope[0], rope[1]);
        k = FusedOps.decomposedRope(sd, k, rope[0], rope[1]);
        long r = 2;
        long t = 19;
        SDVariable att = PrefixShareOps.attentionWithLse(sd, sd.reshape(q, r, t, d.headsQ(), d.headDim()),
                sd.reshape(k, r, t, d.headsKv(), d.headDim()), sd.reshape(val, r, t, d.headsKv(), d.headDim()),
                node, end, scale, d.headsQ(), d.headsKv(), PrefixShareOps.Implementation.REFERENCE)[0];
        SDVariable h1 = h.add(FusedOps.decomposedLinear(sd, sd.reshape(att, r * t, (long) d.headsQ() * d.headDim()),
                v.get("wo")));
        SDVariable y = FusedOps.decomposedRmsNorm(sd, h1, v.get("ln2"), eps);
        SDVariable act = FusedOps.decomposedSwiGlu(sd, FusedOps.decomposedLinear(sd, y, v.get("wg")),
                FusedOps.decomposedLinear(sd, y, v.get("wu")));
        return h1.add(FusedOps.decomposedLinear(sd, act, v.get("wd")));
    }

    private static SDVariable biased(SDVariable y, SDVariable b) {
        return b == null ? y : y.add(b);
    }

    /** Output "y" and the gradients ("d" + name) of sum(y * r) with respect to h and every weight. */
    private static Map<String, INDArray> evaluate(Dims d, DataType dt, boolean fused) {
        int[][][] lay = layout();
        long rows = 2L * 19;
        Map<String, INDArray> in = inputs(d, rows, dt, 11);
        SameDiff sd = SameDiff.create();
        Map<String, SDVariable> v = new LinkedHashMap<>();
        in.forEach((k, a) -> v.put(k, sd.var(k, a)));
        INDArray[] tables = FusedOpsTest.ropeTables(rows, d.headDim(), dt);
        SDVariable[] rope = {sd.constant("cos", tables[0]), sd.constant("sin", tables[1])};
        SDVariable node = sd.constant("node", Nd4j.createFromArray(lay[0]).castTo(dt));
        SDVariable end = sd.constant("end", Nd4j.createFromArray(lay[1]).castTo(dt));
        SDVariable y = layer(sd, v, d, rope, node, end, fused);
        y.rename("y");
        Nd4j.getRandom().setSeed(12);
        y.mul(sd.constant("r", Nd4j.rand(DataType.DOUBLE, rows, d.hidden()).subi(0.5).castTo(dt))).sum("loss")
                .markAsLoss();
        Map<String, INDArray> out = new LinkedHashMap<>();
        out.put("y", sd.output(Collections.emptyMap(), "y").get("y"));
        sd.calculateGradients(Collections.emptyMap(), in.keySet().toArray(new String[0]))
                .forEach((k, a) -> out.put("d" + k, a));
        return out;
    }

    private static void check(Dims d, DataType dt, double tolerance) {
        Map<String, INDArray> f = evaluate(d, dt, true);
        Map<String, INDArray> ref = evaluate(d, dt, false);
        assertTrue(f.keySet().equals(ref.keySet()), f.keySet() + " vs " + ref.keySet());
        for (String k : ref.keySet()) {
            double e = Errors.maxRelative(f.get(k), ref.get(k));
            assertTrue(e <= tolerance, d + " " + dt + " " + k + ": fused layer vs decomposed " + e);
        }
    }

    @Test
    void layerEqualsDecomposedWithReferenceAttentionInFloat64() {
        check(new Dims(24, 4, 2, 8, 40, false), DataType.DOUBLE, 1e-12);
        check(new Dims(32, 4, 2, 16, 48, true), DataType.DOUBLE, 1e-12);
        check(new Dims(16, 2, 2, 8, 24, false), DataType.DOUBLE, 1e-12);
    }

    @Test
    void layerEqualsDecomposedWithReferenceAttentionInFloat32() {
        check(new Dims(32, 4, 2, 16, 48, true), DataType.FLOAT, 1e-5);
    }

    @Test
    void gradCheckPassesThroughTheLayer() {
        Dims d = new Dims(8, 2, 1, 4, 12, true);
        int[][][] lay = layout();
        long rows = 2L * 19;
        SameDiff sd = SameDiff.create();
        Map<String, SDVariable> v = new LinkedHashMap<>();
        inputs(d, rows, DataType.DOUBLE, 13).forEach((k, a) -> v.put(k, sd.var(k, a)));
        INDArray[] tables = FusedOpsTest.ropeTables(rows, d.headDim(), DataType.DOUBLE);
        SDVariable y = layer(sd, v, d, new SDVariable[]{sd.constant("cos", tables[0]), sd.constant("sin", tables[1])},
                sd.constant("node", Nd4j.createFromArray(lay[0]).castTo(DataType.DOUBLE)),
                sd.constant("end", Nd4j.createFromArray(lay[1]).castTo(DataType.DOUBLE)), true);
        y.mul(sd.constant("r", Nd4j.rand(DataType.DOUBLE, rows, d.hidden()).subi(0.5))).sum("loss").markAsLoss();
        assertTrue(FusedOpsTest.gradCheck(sd), "GradCheckUtil decoder layer");
    }

    @Test
    void inconsistentShapesFailNamingTheOp() {
        Dims d = new Dims(16, 2, 2, 8, 24, false);
        long rows = 2L * 19;
        Map<String, INDArray> in = inputs(d, rows, DataType.DOUBLE, 14);
        in.put("wq", Nd4j.randn(DataType.DOUBLE, 12, d.hidden()));   // 12 rows: not a multiple of the head dim 8
        int[][][] lay = layout();
        INDArray[] tables = FusedOpsTest.ropeTables(rows, d.headDim(), DataType.DOUBLE);
        List<INDArray> args = new ArrayList<>();
        args.add(in.get("h"));
        for (String w : WEIGHTS) {
            if (in.containsKey(w)) {
                args.add(in.get(w));
            }
        }
        args.addAll(List.of(tables[0], tables[1], Nd4j.createFromArray(lay[0]).castTo(DataType.DOUBLE),
                Nd4j.createFromArray(lay[1]).castTo(DataType.DOUBLE)));
        FusedDecoderLayer op = new FusedDecoderLayer();
        op.addTArgument(LayerConfig.plain(1e-5, 1 / Math.sqrt(d.headDim()), false).tArgs());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> op.outputShapes(args));
        assertTrue(e.getMessage().contains(FusedDecoderLayer.OP_NAME) && e.getMessage().contains("q_proj rows 12"),
                e.getMessage());
    }
}
