package org.prefixshare.ops.fused;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.attention.Errors;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.nativeload.NativeLibrary;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.FileWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The fused LM head + label log-prob op ({@link FusedLmHeadLogProbs}) against its decomposed formulation (linear into
 * [N,V] logits, then the written-out log-softmax at the labels): logp, dHidden and dHead, float64 to 1e-12 and
 * float32 to 1e-5; vocabularies that are not a multiple of the kernel's vocabulary chunk (two chunks), N = 1 and
 * N = 0, labels at 0 and V - 1, INT32 and float-typed labels; a BFLOAT16 head against a FLOAT head holding the same
 * values (identical, and no head gradient); GradCheckUtil in float64; save/load; the fallback switch; the error
 * messages; and the memory claim: N = 2048 over V = 152,064 runs forward and backward with the resident set growing
 * by far less than the 1.2 GB one [N,V] float array would take.
 */
class FusedLmHeadTest {

    private static final Logger log = LoggerFactory.getLogger(FusedLmHeadTest.class);

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

    private static double tolerance(DataType dt) {
        return dt == DataType.DOUBLE ? 1e-12 : 1e-5;
    }

    /**
     * hidden [n,h] in [-1,1) and head [v,h] scaled so logits spread over about +-12; labels in [0,v) of type
     * labelType with the first two at v - 1 and 0.
     */
    private static Map<String, INDArray> problem(DataType dt, DataType labelType, long n, long h, long v) {
        Map<String, INDArray> p = new LinkedHashMap<>();
        p.put("hidden", Nd4j.rand(DataType.DOUBLE, n, h).muli(2).subi(1).castTo(dt));
        p.put("head", Nd4j.rand(DataType.DOUBLE, v, h).muli(2).subi(1).muli(12 / Math.sqrt(h)).castTo(dt));
        int[] ids = new int[(int) n];
        for (int i = 0; i < n; i++) {
            ids[i] = i == 0 ? (int) v - 1 : i == 1 ? 0 : (int) ((i * 7919L) % v);
        }
        p.put("labels", Nd4j.createFromArray(ids).castTo(labelType));
        return p;
    }

    /** logp and the gradients of sum(logp * r) with respect to hidden and (when it is a variable) head. */
    private static Map<String, INDArray> evaluate(Map<String, INDArray> p, boolean headVariable, boolean fused,
                                                  INDArray r) {
        SameDiff sd = SameDiff.create();
        SDVariable hidden = sd.var("hidden", p.get("hidden").dup());
        SDVariable head = headVariable ? sd.var("head", p.get("head").dup()) : sd.constant("head", p.get("head").dup());
        SDVariable labels = sd.constant("labels", p.get("labels").dup());
        long vocab = p.get("head").size(0);
        SDVariable y = (fused ? FusedOps.fusedLmHeadLabelLogProbs(sd, hidden, head, labels)
                : FusedOps.decomposedLmHeadLabelLogProbs(sd, hidden, head, labels, (int) vocab)).rename("y");
        y.mul(sd.constant(r)).sum("loss").markAsLoss();
        Map<String, INDArray> out = new LinkedHashMap<>();
        out.put("y", sd.output(Collections.emptyMap(), "y").get("y"));
        String[] wrt = headVariable ? new String[]{"hidden", "head"} : new String[]{"hidden"};
        sd.calculateGradients(Collections.emptyMap(), wrt).forEach((k, a) -> out.put("d" + k, a));
        return out;
    }

    /**
     * Fused against decomposed. The oracle is the decomposed formulation in float64 on the same values (exact for
     * float inputs): float64 within 1e-12; float32 within 1e-5, or twice the error of the decomposed formulation run
     * in float32 where that is larger (FlashAttention's rule). It is at V = 32,001: a float sum over the vocabulary
     * is ~1.5e-5 off whichever way it is computed, and the decomposed max-subtraction's backward adds 1 - sum(p), a
     * float sum of V terms, to each row's argmax (2.4e-5 in dHead); both errors are logged.
     */
    private void compare(String label, DataType dt, Map<String, INDArray> p, boolean headVariable,
                         Map<String, INDArray> fused, INDArray r) {
        Map<String, INDArray> d = evaluate(upcast(p), headVariable, false, r.castTo(DataType.DOUBLE));
        Map<String, INDArray> same = dt == DataType.DOUBLE ? d : evaluate(p, headVariable, false, r);
        assertEquals(d.keySet(), fused.keySet(), label);
        for (String k : d.keySet()) {
            assertArrayEquals(d.get(k).shape(), fused.get(k).shape(), label + " " + k);
            assertEquals(dt, fused.get(k).dataType(), label + " " + k);
            double e = Errors.maxRelative(fused.get(k), d.get(k));
            double tol = tolerance(dt);
            worst.merge(dt + " " + k, e, Math::max);
            if (dt != DataType.DOUBLE) {
                double es = Errors.maxRelative(same.get(k), d.get(k));
                worst.merge(dt + " " + k + " (decomposed in " + dt + ")", es, Math::max);
                tol = Math.max(tol, 2 * es);
            }
            assertTrue(e <= tol, label + " " + k + ": fused vs decomposed error " + e + " > " + tol);
        }
    }

    private void compare(String label, DataType dt, Map<String, INDArray> p) {
        INDArray r = Nd4j.rand(DataType.DOUBLE, p.get("hidden").size(0)).subi(0.5).castTo(dt);
        compare(label, dt, p, true, evaluate(p, true, true, r), r);
    }

    /** The problem with hidden and head as DOUBLE (exact for float inputs). */
    private static Map<String, INDArray> upcast(Map<String, INDArray> p) {
        Map<String, INDArray> u = new LinkedHashMap<>(p);
        u.put("hidden", p.get("hidden").castTo(DataType.DOUBLE));
        u.put("head", p.get("head").castTo(DataType.DOUBLE));
        return u;
    }

    // ------------------------------------------------------------------------------------------------ equivalence

    /** (N, H, V): N = 1, odd sizes, and a vocabulary the kernel splits into two chunks (not a multiple of either). */
    @Test
    void equalsDecomposedInFloat64() {
        Nd4j.getRandom().setSeed(1);
        // float64 blocks hold 8M logits: 300 x 30,001 is two vocabulary chunks
        for (long[] s : new long[][]{{1, 8, 5}, {7, 16, 300}, {33, 24, 2101}, {300, 16, 30001}}) {
            compare("f64 " + java.util.Arrays.toString(s), DataType.DOUBLE,
                    problem(DataType.DOUBLE, DataType.INT32, s[0], s[1], s[2]));
        }
    }

    @Test
    void equalsDecomposedInFloat32() {
        Nd4j.getRandom().setSeed(2);
        // float32 blocks hold 16M logits: 600 x 32,001 is two vocabulary chunks; float-typed labels as DecoderModel's
        // placeholders were
        for (long[] s : new long[][]{{1, 8, 5}, {7, 16, 300}, {33, 24, 2101}, {600, 16, 32001}}) {
            compare("f32 " + java.util.Arrays.toString(s), DataType.FLOAT,
                    problem(DataType.FLOAT, DataType.FLOAT, s[0], s[1], s[2]));
        }
    }

    @Test
    void matchesTheFormulaByHand() {
        // hidden (1, 0), head rows (1, 0), (2, 0), (3, 0): logits 1, 2, 3; label 2
        SameDiff sd = SameDiff.create();
        SDVariable hidden = sd.var("hidden", Nd4j.createFromArray(new double[][]{{1, 0}}));
        SDVariable head = sd.var("head", Nd4j.createFromArray(new double[][]{{1, 0}, {2, 0}, {3, 0}}));
        SDVariable y = FusedOps.fusedLmHeadLabelLogProbs(sd, hidden, head, sd.constant(Nd4j.createFromArray(2)))
                .rename("y");
        y.sum("loss").markAsLoss();
        double z = Math.exp(1) + Math.exp(2) + Math.exp(3);
        assertEquals(3 - Math.log(z), sd.output(Collections.emptyMap(), "y").get("y").getDouble(0), 1e-15);
        Map<String, INDArray> g = sd.calculateGradients(Collections.emptyMap(), "hidden", "head");
        double[] p = {Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z};
        // dlogits = onehot - p; dHidden = dlogits head; dHead = dlogits^T hidden
        assertEquals(-p[0] - 2 * p[1] + 3 * (1 - p[2]), g.get("hidden").getDouble(0, 0), 1e-15);
        assertEquals(0.0, g.get("hidden").getDouble(0, 1), 0.0);
        assertEquals(-p[0], g.get("head").getDouble(0, 0), 1e-15);
        assertEquals(1 - p[2], g.get("head").getDouble(2, 0), 1e-15);
    }

    @Test
    void emptyBatchGivesEmptyOutputsAndAZeroHeadGradient() {
        INDArray hidden = Nd4j.create(DataType.FLOAT, 0, 4);
        INDArray head = Nd4j.rand(DataType.FLOAT, 5, 4);
        INDArray labels = Nd4j.create(DataType.INT32, 0);
        INDArray logp = Nd4j.create(DataType.FLOAT, 0);
        INDArray lse = Nd4j.create(DataType.FLOAT, 0);
        FusedKernels.lmHeadForward("t", hidden, head, labels, logp, lse);
        INDArray dHidden = Nd4j.create(DataType.FLOAT, 0, 4);
        INDArray dHead = Nd4j.rand(DataType.FLOAT, 5, 4);
        FusedKernels.lmHeadBackward("t", hidden, head, labels, lse, Nd4j.create(DataType.FLOAT, 0), dHidden, dHead);
        assertEquals(0.0, dHead.norm1Number().doubleValue());
    }

    // ------------------------------------------------------------------------------------------------ frozen head

    @Test
    void bfloat16HeadEqualsFloat32HeadHoldingTheSameValuesAndGetsNoGradient() {
        Nd4j.getRandom().setSeed(3);
        for (long[] s : new long[][]{{1, 8, 5}, {33, 24, 2101}, {600, 16, 32001}}) {
            Map<String, INDArray> p = problem(DataType.FLOAT, DataType.INT32, s[0], s[1], s[2]);
            INDArray head16 = p.get("head").castTo(DataType.BFLOAT16);
            p.put("head", head16.castTo(DataType.FLOAT));
            Map<String, INDArray> p16 = new LinkedHashMap<>(p);
            p16.put("head", head16);
            INDArray r = Nd4j.rand(DataType.FLOAT, s[0]).subi(0.5f);
            Map<String, INDArray> f32 = evaluate(p, false, true, r);
            Map<String, INDArray> b16 = evaluate(p16, false, true, r);
            assertEquals(f32.get("y"), b16.get("y"), "logp " + java.util.Arrays.toString(s));
            assertEquals(f32.get("dhidden"), b16.get("dhidden"), "dHidden " + java.util.Arrays.toString(s));
            // and the frozen head against the decomposed formulation on the widened values
            compare("bf16 head " + java.util.Arrays.toString(s), DataType.FLOAT, p, false, b16, r);
        }
        // the backward op of a bfloat16 head has one output: dHidden
        SameDiff sd = SameDiff.create();
        SDVariable hidden = sd.var("hidden", Nd4j.rand(DataType.FLOAT, 3, 8));
        SDVariable head = sd.constant("head", Nd4j.rand(DataType.FLOAT, 11, 8).castTo(DataType.BFLOAT16));
        FusedOps.fusedLmHeadLabelLogProbs(sd, hidden, head, sd.constant(Nd4j.createFromArray(1, 2, 10)))
                .sum("loss").markAsLoss();
        assertEquals(List.of("hidden"), new ArrayList<>(sd.calculateGradients(Collections.emptyMap(), "hidden")
                .keySet()));
        int bpOps = 0;
        for (DifferentialFunction f : sd.getFunction("grad").ops()) {
            if (f instanceof FusedLmHeadLogProbsBp) {
                assertEquals(1, f.outputVariables().length, "a frozen head's backward computes dHidden only");
                bpOps++;
            }
        }
        assertEquals(1, bpOps);
    }

    // ------------------------------------------------------------------------------------------------ memory

    /** Resident-set figures of this process in kB ("VmRSS", "VmHWM"). */
    private static long statusKb(String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.substring(key.length()).replace("kB", "").trim());
            }
        }
        throw new IllegalStateException("no " + key + " in /proc/self/status");
    }

    /**
     * N = 2048 labelled positions over Qwen2's 152,064-token vocabulary, forward and backward with a trained head:
     * the peak resident set (VmHWM, restarted through /proc/self/clear_refs) grows by the kernel's reused block and
     * the outputs, never by one [N,V] float array (1.2 GB; the decomposed formulation holds several).
     */
    @Test
    void neverMaterialisesTheLogits() throws IOException {
        long n = 2048;
        long h = 16;
        long v = 152064;
        assumeTrue(Files.isWritable(Path.of("/proc/self/clear_refs")), "needs Linux's /proc/self/clear_refs");
        // warm-up on a small problem (classes, JIT), then the first run of a fresh graph is measured: SameDiff keeps
        // arrays for reuse between runs, so a second run could hide an [N,V] intermediate
        lossAndGradients(problem(DataType.FLOAT, DataType.INT32, 8, h, 1000));
        Map<String, INDArray> p = problem(DataType.FLOAT, DataType.INT32, n, h, v);
        System.gc();
        long before = statusKb("VmRSS:");
        try (FileWriter w = new FileWriter("/proc/self/clear_refs")) {
            w.write("5");
        }
        assumeTrue(statusKb("VmHWM:") <= before + 16 * 1024, "the peak could not be restarted");
        Map<String, INDArray> g = lossAndGradients(p);
        INDArray logp = g.get("y");
        double grownMb = (statusKb("VmHWM:") - before) / 1024.0;
        double logitsMb = n * v * 4 / 1048576.0;
        log.info("N={} V={}: peak RSS grew {} MB over forward and backward ([N,V] logits would be {} MB)", n, v,
                String.format("%.0f", grownMb), String.format("%.0f", logitsMb));
        assertTrue(grownMb < logitsMb / 4, "peak RSS grew " + grownMb + " MB");
        assertEquals(0.0, logp.gt(0).castTo(DataType.INT32).sumNumber().doubleValue(), "log-probs are <= 0");
        assertTrue(g.get("head").norm1Number().doubleValue() > 0);
    }

    /** logp ("y") and the gradients of sum(logp) of a fresh graph, hidden and head variables. */
    private static Map<String, INDArray> lossAndGradients(Map<String, INDArray> p) {
        SameDiff sd = SameDiff.create();
        SDVariable hidden = sd.var("hidden", p.get("hidden"));
        SDVariable head = sd.var("head", p.get("head"));
        SDVariable y = FusedOps.fusedLmHeadLabelLogProbs(sd, hidden, head, sd.constant("labels", p.get("labels")))
                .rename("y");
        y.sum("loss").markAsLoss();
        Map<String, INDArray> out = new LinkedHashMap<>(sd.calculateGradients(Collections.emptyMap(), "hidden",
                "head"));
        out.put("y", sd.output(Collections.emptyMap(), "y").get("y"));
        return out;
    }

    // ------------------------------------------------------------------------------------------------ grad check

    @Test
    void gradCheckPassesThroughTheFusedOp() {
        Nd4j.getRandom().setSeed(4);
        SameDiff sd = SameDiff.create();
        SDVariable hidden = sd.var("hidden", Nd4j.randn(DataType.DOUBLE, 5, 6));
        SDVariable head = sd.var("head", Nd4j.randn(DataType.DOUBLE, 9, 6));
        SDVariable y = FusedOps.fusedLmHeadLabelLogProbs(sd, hidden, head,
                sd.constant("labels", Nd4j.createFromArray(8, 0, 3, 3, 5)));
        y.mul(sd.constant("r", Nd4j.rand(DataType.DOUBLE, 5).subi(0.5))).sum("loss").markAsLoss();
        assertTrue(FusedOpsTest.gradCheck(sd), "GradCheckUtil lm_head_logprobs");
    }

    // ------------------------------------------------------------------------------------------------ graphs

    /**
     * A graph with the op (an INT32 labels placeholder) saves and loads. (Not with a BFLOAT16 head: ND4J M2.1's
     * {@code SameDiff.save} / {@code load} corrupts BFLOAT16 arrays of any graph, op or no op.)
     */
    @Test
    void graphSavesAndLoads(@TempDir File dir) throws Exception {
        Nd4j.getRandom().setSeed(5);
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.FLOAT, -1, 8);
        SDVariable labels = sd.placeHolder("labels", DataType.INT32, -1);
        SDVariable head = sd.var("head", Nd4j.randn(DataType.FLOAT, 40, 8));
        SDVariable y = FusedOps.fusedLmHeadLabelLogProbs(sd, x, head, labels).rename("y");
        y.sum("loss").markAsLoss();
        Map<String, INDArray> feed = Map.of("x", Nd4j.randn(DataType.FLOAT, 6, 8),
                "labels", Nd4j.createFromArray(0, 39, 7, 7, 20, 1));
        INDArray before = sd.output(feed, "y").get("y");
        INDArray gradBefore = sd.calculateGradients(feed, "head").get("head");
        File file = new File(dir, "lmhead.sd");
        sd.save(file, true);
        SameDiff loaded = SameDiff.load(file, true);
        assertEquals(before, loaded.output(feed, "y").get("y"));
        assertEquals(gradBefore, loaded.calculateGradients(feed, "head").get("head"));
    }

    @Test
    void facadeBuildsTheFusedOpByDefaultAndTheDecomposedOneWhenDisabled() {
        assertTrue(opNames().contains(FusedLmHeadLogProbs.OP_NAME));
        String old = System.getProperty(FusedOps.PROPERTY);
        System.setProperty(FusedOps.PROPERTY, "false");
        try {
            assertFalse(FusedOps.enabled());
            List<String> names = opNames();
            assertTrue(names.stream().noneMatch(s -> s.startsWith("prefixshare_")), names.toString());
        } finally {
            if (old == null) {
                System.clearProperty(FusedOps.PROPERTY);
            } else {
                System.setProperty(FusedOps.PROPERTY, old);
            }
        }
    }

    private static List<String> opNames() {
        SameDiff sd = SameDiff.create();
        FusedOps.lmHeadLabelLogProbs(sd, sd.var("h", Nd4j.rand(DataType.FLOAT, 3, 4)),
                sd.var("w", Nd4j.rand(DataType.FLOAT, 6, 4)), sd.constant(Nd4j.createFromArray(0, 5, 2)), 6);
        List<String> names = new ArrayList<>();
        for (DifferentialFunction f : sd.ops()) {
            names.add(f.opName());
        }
        return names;
    }

    @Test
    void badInputsFailNamingTheOpAndTheValues() {
        SameDiff sd = SameDiff.create();
        SDVariable y = FusedOps.fusedLmHeadLabelLogProbs(sd, sd.var("h", Nd4j.rand(DataType.FLOAT, 3, 4)),
                sd.var("w", Nd4j.rand(DataType.FLOAT, 6, 4)), sd.constant(Nd4j.createFromArray(0, 6, 2)));
        Exception e = assertThrows(RuntimeException.class, () -> sd.output(Collections.emptyMap(), y.name()));
        assertTrue(messages(e).contains("prefixshare_lm_head_logprobs")
                && messages(e).contains("label 6 at position 1 is outside the vocabulary [0, 6)"), messages(e));

        SameDiff sd2 = SameDiff.create();
        SDVariable y2 = FusedOps.fusedLmHeadLabelLogProbs(sd2, sd2.var("h", Nd4j.rand(DataType.FLOAT, 3, 4)),
                sd2.var("w", Nd4j.rand(DataType.FLOAT, 6, 5)), sd2.constant(Nd4j.createFromArray(0, 1, 2)));
        e = assertThrows(RuntimeException.class, () -> sd2.output(Collections.emptyMap(), y2.name()));
        assertTrue(messages(e).contains("prefixshare_lm_head_logprobs") && messages(e).contains("[6, 5]"),
                messages(e));
    }

    private static String messages(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            b.append(c.getMessage()).append(" | ");
        }
        return b.toString();
    }
}
