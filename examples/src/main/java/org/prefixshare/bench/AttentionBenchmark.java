package org.prefixshare.bench;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.attention.AncestorMask;
import org.prefixshare.ops.attention.Errors;
import org.prefixshare.ops.attention.PrefixShareOps;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * {@code bench attention}: the native op against the dense SameDiff reference, float32, B = 1, over head dims,
 * GQA shapes, lengths and the three {@link BenchLayouts}. The native op is timed eagerly (kernel plus its Java
 * preparation); the reference through a SameDiff graph (what a DL4J user would otherwise run). FLOPs count only the
 * visible area: forward 4 x visiblePairs x D x Hq, backward 2.5 x that.
 */
public final class AttentionBenchmark {

    /** One measured case. Times in milliseconds (median). */
    public record Case(int T, int D, int hq, int hkv, String layout, double visible_fraction,
                       double native_fwd_ms, double native_fwdbwd_ms, double ref_fwd_ms, double ref_fwdbwd_ms,
                       double native_fwd_gflops, double native_bwd_gflops,
                       double max_rel_err_fwd, double max_rel_err_bwd) {
    }

    /** The whole run, in the shape of the JSON line. */
    public record Result(double sgemm_gflops, List<Case> cases) {
    }

    private final boolean quick;
    private final Consumer<String> progress;

    public AttentionBenchmark(boolean quick, Consumer<String> progress) {
        this.quick = quick;
        this.progress = progress;
    }

    public Result run() {
        PrefixShareOps.init();
        double sgemm = sgemmGflops(2048);
        progress.accept(String.format("sgemm (ND4J 2048^3 mmul, float32): %.1f GFLOP/s", sgemm));
        int[] lengths = quick ? new int[]{512, 1024, 2048} : new int[]{512, 1024, 2048, 4096};
        int[][] heads = {{8, 8}, {8, 2}};
        List<Case> cases = new ArrayList<>();
        for (int d : new int[]{64, 128}) {
            for (int[] h : heads) {
                for (int t : lengths) {
                    for (Case c : measure(t, d, h[0], h[1])) {
                        cases.add(c);
                        progress.accept(String.format(
                                "T=%4d D=%3d Hq=%d Hkv=%d %-7s vis=%.3f | native fwd %8.2f ms fwd+bwd %8.2f ms "
                                        + "(%5.1f / %5.1f GFLOP/s) | ref fwd %8.2f ms fwd+bwd %8.2f ms | "
                                        + "speedup fwd+bwd %5.1fx | err %.1e %.1e",
                                c.T, c.D, c.hq, c.hkv, c.layout, c.visible_fraction, c.native_fwd_ms,
                                c.native_fwdbwd_ms, c.native_fwd_gflops, c.native_bwd_gflops, c.ref_fwd_ms,
                                c.ref_fwdbwd_ms, c.ref_fwdbwd_ms / c.native_fwdbwd_ms, c.max_rel_err_fwd,
                                c.max_rel_err_bwd));
                    }
                }
            }
        }
        return new Result(sgemm, cases);
    }

    /**
     * Timed rounds of the native op; each round runs every layout once (see {@link #measure}). A round at T=2048 takes
     * ~0.1-0.4 s, and the medians of the time ratios wandered by +-0.1 between runs with 7 rounds on this 2-vCPU
     * machine, so 15 even in quick mode.
     */
    private int rounds(int t) {
        return quick ? 15 : 21;
    }

    /**
     * One attention problem of the benchmark: a layout with random q, k, v, dOut, and output arrays allocated once
     * and reused by every timed call (as a training loop's memory manager does), so the timings are the op's work
     * and not the faulting-in of fresh pages (~0.8 ms per MB here).
     */
    private record Problem(BenchLayouts layout, double visibleFraction, INDArray q, INDArray k, INDArray v,
                           INDArray dOut, INDArray node, INDArray end, double scale, INDArray[] outputs) {

        static Problem of(BenchLayouts layout, int t, int d, int hq, int hkv) {
            int[][] row = layout.row(t);
            return of(layout, new int[][]{row[0]}, new int[][]{row[1]}, d, hq, hkv);
        }

        /** Rows {@code node[b]}, {@code end[b]} of one length; layout is null outside the main grid. */
        static Problem of(BenchLayouts layout, int[][] node, int[][] end, int d, int hq, int hkv) {
            int b = node.length;
            int t = node[0].length;
            Nd4j.getRandom().setSeed(t * 31L + d + 7L * b);
            INDArray[] outputs = {
                    Nd4j.create(DataType.FLOAT, b, t, hq, d), Nd4j.create(DataType.FLOAT, b, hq, t),
                    Nd4j.create(DataType.FLOAT, b, t, hq, d), Nd4j.create(DataType.FLOAT, b, t, hkv, d),
                    Nd4j.create(DataType.FLOAT, b, t, hkv, d)};
            return new Problem(layout, AncestorMask.visibleFraction(node[0], end[0]),
                    Nd4j.randn(DataType.FLOAT, b, t, hq, d), Nd4j.randn(DataType.FLOAT, b, t, hkv, d),
                    Nd4j.randn(DataType.FLOAT, b, t, hkv, d), Nd4j.randn(DataType.FLOAT, b, t, hq, d),
                    Nd4j.createFromArray(node), Nd4j.createFromArray(end), 1 / Math.sqrt(d), outputs);
        }

        INDArray[] forward() {
            return PrefixShareOps.forwardInto(q, k, v, node, end, scale, outputs[0], outputs[1]);
        }

        INDArray[] backward(INDArray[] fwd) {
            return PrefixShareOps.backwardInto(q, k, v, node, end, fwd[0], fwd[1], dOut, scale, outputs[2],
                    outputs[3], outputs[4]);
        }
    }

    /**
     * Interleaved timing of several problems: each round runs every problem once (forward, then backward on that
     * forward's outputs), so load changes on this shared 2-core machine hit all of them alike. Two untimed warm-up
     * rounds; then at least {@code minRounds} rounds, more until {@code budgetNanos} have passed (at most
     * {@link #MAX_ROUNDS}). Milliseconds per problem and round; the last round's outputs are kept.
     */
    private record Rounds(List<double[]> fwdMs, List<double[]> bwdMs, INDArray[][] fwdOut, INDArray[][] bwdOut) {

        static final int MAX_ROUNDS = 400;

        static Rounds run(List<Problem> problems, int minRounds, long budgetNanos) {
            int n = problems.size();
            double[][] fwd = new double[n][MAX_ROUNDS];
            double[][] bwd = new double[n][MAX_ROUNDS];
            INDArray[][] fwdOut = new INDArray[n][];
            INDArray[][] bwdOut = new INDArray[n][];
            int warmup = 2;
            long start = 0;
            int r = -warmup;
            for (; r < MAX_ROUNDS && (r < minRounds || System.nanoTime() - start < budgetNanos); r++) {
                if (r == 0) {
                    start = System.nanoTime();
                }
                for (int i = 0; i < n; i++) {
                    long t0 = System.nanoTime();
                    fwdOut[i] = problems.get(i).forward();
                    long t1 = System.nanoTime();
                    bwdOut[i] = problems.get(i).backward(fwdOut[i]);
                    long t2 = System.nanoTime();
                    if (r >= 0) {
                        fwd[i][r] = (t1 - t0) / 1e6;
                        bwd[i][r] = (t2 - t1) / 1e6;
                    }
                }
            }
            List<double[]> f = new ArrayList<>();
            List<double[]> b = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                f.add(java.util.Arrays.copyOf(fwd[i], r));
                b.add(java.util.Arrays.copyOf(bwd[i], r));
            }
            return new Rounds(f, b, fwdOut, bwdOut);
        }

        double fwdMedian(int i) {
            return Timing.median(fwdMs.get(i));
        }

        double bwdMedian(int i) {
            return Timing.median(bwdMs.get(i));
        }

        /** Median over rounds of forward + backward (not the sum of the two medians). */
        double totalMedian(int i) {
            double[] f = fwdMs.get(i);
            double[] t = new double[f.length];
            for (int r = 0; r < f.length; r++) {
                t[r] = f[r] + bwdMs.get(i)[r];
            }
            return Timing.median(t);
        }

        int rounds() {
            return fwdMs.get(0).length;
        }
    }

    /**
     * The three layouts of one (T, D, heads) point. The native op is timed in rounds that run every layout once
     * (forward, then backward on that forward's outputs), so load changes on this shared 2-core machine hit all
     * layouts alike; each figure is the median over rounds. The dense reference runs once per layout after a
     * warm-up (it is 10-100x slower; its figures are only the baseline of the speedup).
     */
    private List<Case> measure(int t, int d, int hq, int hkv) {
        List<Problem> problems = new ArrayList<>();
        for (BenchLayouts layout : BenchLayouts.values()) {
            problems.add(Problem.of(layout, t, d, hq, hkv));
        }
        int n = problems.size();
        Rounds timed = Rounds.run(problems, rounds(t), 0);
        INDArray[][] fwdOut = timed.fwdOut();
        INDArray[][] bwdOut = timed.bwdOut();
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Problem p = problems.get(i);
            SameDiff sd = SameDiff.create();
            SDVariable out = PrefixShareOps.attention(sd, sd.var("q", p.q), sd.var("k", p.k), sd.var("v", p.v),
                    sd.constant("node", p.node.castTo(DataType.FLOAT)), sd.constant("end", p.end.castTo(DataType.FLOAT)),
                    p.scale, PrefixShareOps.Implementation.REFERENCE);
            sd.constant("w", p.dOut).mul(out).sum("loss").markAsLoss();
            @SuppressWarnings("unchecked")
            Map<String, INDArray>[] refOut = new Map[2];
            double rFwd = Timing.medianMillis(() -> refOut[0] = sd.output(Collections.emptyMap(), out.name()), 1, 1);
            double rFwdBwd = Timing.medianMillis(
                    () -> refOut[1] = sd.calculateGradients(Collections.emptyMap(), "q", "k", "v"), 1, 1);
            double errFwd = Errors.maxRelative(fwdOut[i][0], refOut[0].get(out.name()));
            double errBwd = Math.max(Errors.maxRelative(bwdOut[i][0], refOut[1].get("q")),
                    Math.max(Errors.maxRelative(bwdOut[i][1], refOut[1].get("k")),
                            Errors.maxRelative(bwdOut[i][2], refOut[1].get("v"))));
            double fwdFlops = 4.0 * p.visibleFraction * t * (double) t * d * hq;
            double nFwd = timed.fwdMedian(i);
            double nBwd = timed.bwdMedian(i);
            cases.add(new Case(t, d, hq, hkv, p.layout.label(), p.visibleFraction, nFwd, timed.totalMedian(i),
                    rFwd, rFwdBwd, fwdFlops / (nFwd * 1e6), 2.5 * fwdFlops / (nBwd * 1e6), errFwd, errBwd));
        }
        return cases;
    }

    /**
     * One cell of the sweep: a prompt of P tokens with two responses of C = P / ratio tokens each, paired (two causal
     * rows of P + C, B = 2) against prefix-shared (one row of P + 2C: prompt node, two response nodes, B = 1), both
     * through the native op, forward + backward, medians over interleaved rounds. The ideal is the visible-area ratio
     * (paired over shared).
     */
    public record SweepCase(int prefix, double ratio, int completion, int D, int hq, int hkv, int rounds,
                            double paired_fwdbwd_ms, double shared_fwdbwd_ms, double speedup, double ideal) {

        /** Measured speedup over the ideal. */
        public double ofIdeal() {
            return speedup / ideal;
        }
    }

    /** Prefix lengths of the sweep. */
    public int[] sweepPrefixes() {
        return quick ? new int[]{128, 256, 512} : new int[]{128, 256, 512, 1024, 2048};
    }

    /** Prefix/completion ratios of the sweep. */
    public static double[] sweepRatios() {
        return new double[]{0.5, 1, 2, 4, 8};
    }

    /** Least time each sweep cell is timed for (its rounds interleave the two layouts). */
    public long sweepBudgetNanos() {
        return quick ? 400_000_000L : 1_500_000_000L;
    }

    /**
     * {@code bench attention --sweep}, after the paper's Figure 4: prefix length x prefix/completion ratio, speedup of
     * the native op on the prefix-shared layout over the native op on the paired layout, against the ideal.
     * float32, D = 64, Hq = 8, Hkv = 2.
     */
    public List<SweepCase> sweep() {
        return sweep(sweepPrefixes(), sweepRatios(), sweepBudgetNanos());
    }

    /** The sweep over the given grid, each cell timed for at least {@code budgetNanos} (and 9 rounds). */
    public List<SweepCase> sweep(int[] prefixes, double[] ratios, long budgetNanos) {
        PrefixShareOps.init();
        int d = 64;
        int hq = 8;
        int hkv = 2;
        List<SweepCase> out = new ArrayList<>();
        for (int p : prefixes) {
            for (double r : ratios) {
                int c = Math.max(1, (int) Math.round(p / r));
                int[][] paired = BenchLayouts.pairedRow(p, c);
                int[][] shared = BenchLayouts.sharedRow(p, c);
                double ideal = 2.0 * AncestorMask.visiblePairs(paired[0], paired[1])
                        / AncestorMask.visiblePairs(shared[0], shared[1]);
                List<Problem> problems = List.of(
                        Problem.of(null, new int[][]{paired[0], paired[0]}, new int[][]{paired[1], paired[1]}, d, hq,
                                hkv),
                        Problem.of(null, new int[][]{shared[0]}, new int[][]{shared[1]}, d, hq, hkv));
                Rounds timed = Rounds.run(problems, 9, budgetNanos);
                double pairedMs = timed.totalMedian(0);
                double sharedMs = timed.totalMedian(1);
                SweepCase sc = new SweepCase(p, r, c, d, hq, hkv, timed.rounds(), pairedMs, sharedMs,
                        pairedMs / sharedMs, ideal);
                out.add(sc);
                progress.accept(String.format("prefix %4d ratio %5.2f (C=%4d): paired %8.2f ms, shared %8.2f ms "
                                + "(median of %3d interleaved rounds), speedup %5.2fx, ideal %5.2fx (%3.0f%% of ideal)",
                        p, r, c, pairedMs, sharedMs, sc.rounds(), sc.speedup(), ideal, 100 * sc.ofIdeal()));
            }
        }
        return out;
    }

    /** This machine's float32 matmul rate through ND4J (OpenBLAS): the practical ceiling for the kernels. */
    static double sgemmGflops(int n) {
        INDArray a = Nd4j.rand(DataType.FLOAT, n, n);
        INDArray b = Nd4j.rand(DataType.FLOAT, n, n);
        INDArray c = Nd4j.createUninitialized(DataType.FLOAT, n, n);
        double ms = Timing.medianMillis(() -> a.mmuli(b, c), 2, 5);
        return 2.0 * n * n * (double) n / (ms * 1e6);
    }
}
