package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.PairedLayoutBuilder;
import org.prefixshare.layout.RowAssembler;
import org.prefixshare.layout.RowLayout;
import org.prefixshare.layout.Segment;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.layout.SharedLayoutBuilder;
import org.prefixshare.ops.attention.Errors;
import org.prefixshare.ops.attention.PrefixShareOps;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The project's central claim as a runnable check: one model (same weights) scores the same random examples in the
 * paired format (one padded row per (prompt, response)) and in the prefix-shared packed format (several documents
 * per row); per-sequence log-probs, a loss built on them and every parameter gradient must agree. Errors are
 * {@link Errors#maxRelative} (max-norm relative), the paired format being the expected value.
 */
public final class EquivalenceCheck {

    /**
     * What to check.
     *
     * @param config         model (use DOUBLE for the 1e-9 claim)
     * @param seed           weights, examples and loss inputs
     * @param batches        random batches
     * @param rowsPerBatch   prefix-shared rows per batch
     * @param docsPerRow     documents (examples) per shared row (>= 1)
     * @param maxPrompt      prompt length 0..maxPrompt (0 and 1 drawn often)
     * @param maxResponse    response length 1..maxResponse
     * @param implementation attention implementation (AUTO: native when loaded)
     * @param initStd        weight standard deviation (0.1: attention far from uniform, so layout mistakes show)
     */
    public record Options(DecoderConfig config, long seed, int batches, int rowsPerBatch, int docsPerRow,
                          int maxPrompt, int maxResponse, PrefixShareOps.Implementation implementation,
                          double initStd) {

        public Options {
            if (batches < 1 || rowsPerBatch < 1 || docsPerRow < 1 || maxPrompt < 0 || maxResponse < 2) {
                throw new IllegalArgumentException("EquivalenceCheck.Options: need batches, rowsPerBatch, docsPerRow"
                        + " >= 1, maxPrompt >= 0, maxResponse >= 2; got " + batches + ", " + rowsPerBatch + ", "
                        + docsPerRow + ", " + maxPrompt + ", " + maxResponse);
            }
        }

        /** The tiny model in float64, 4 documents per row, 2 rows per batch. */
        public static Options defaults(int batches, long seed) {
            return new Options(DecoderConfig.tiny().withDataType(DataType.DOUBLE), seed, batches, 2, 4, 12, 10,
                    PrefixShareOps.Implementation.AUTO, 0.1);
        }

        /** These options with another config. */
        public Options withConfig(DecoderConfig c) {
            return new Options(c, seed, batches, rowsPerBatch, docsPerRow, maxPrompt, maxResponse, implementation,
                    initStd);
        }

        /** These options with another attention implementation. */
        public Options withImplementation(PrefixShareOps.Implementation impl) {
            return new Options(config, seed, batches, rowsPerBatch, docsPerRow, maxPrompt, maxResponse, impl,
                    initStd);
        }
    }

    /** A loss over the per-sequence log-probs of one batch (both formats build it from their own batch). */
    public interface BatchLoss {
        /** Adds the loss to the graph; {@code batch} is the batch it will be evaluated on. */
        SDVariable build(SameDiff sd, SDVariable logps, LayoutBatch batch);

        /** The values of the placeholders {@link #build} added, for {@code batch}. */
        Map<String, INDArray> feeds(LayoutBatch batch, DataType dt);

        /** Whether the graph depends on the batch (e.g. pair indices as constants): a fresh model per batch. */
        default boolean perBatchGraph() {
            return false;
        }

        /** A short description for reports. */
        String describe();
    }

    /**
     * Results (max over batches).
     *
     * @param maxRelErrLogps  per-sequence log-probs
     * @param maxRelErrLoss   the loss scalar
     * @param maxRelErrGrads  max over parameters of the gradient's max-norm relative error
     * @param worstGradient   the parameter with the largest gradient error
     * @param batches         batches checked
     * @param sequences       sequences scored (per format)
     * @param sharedRows      prefix-shared rows
     * @param sharedRowTokens prefix-shared row tokens (rows x T)
     * @param pairedRows      paired rows
     * @param pairedRowTokens paired row tokens (rows x T)
     * @param loss            what the loss was
     * @param attention       the attention implementation used
     */
    public record Result(double maxRelErrLogps, double maxRelErrLoss, double maxRelErrGrads, String worstGradient,
                         int batches, int sequences, int sharedRows, long sharedRowTokens, int pairedRows,
                         long pairedRowTokens, String loss, String attention) {
    }

    private EquivalenceCheck() {
    }

    /** Runs the check with {@code loss = sum_s w_s * logps_s}, w random per (example, rank). */
    public static Result run(Options o) {
        return run(o, weightedSum(o.seed()));
    }

    /** Runs the check with the given loss. */
    public static Result run(Options o, BatchLoss loss) {
        SplittableRandom rnd = new SplittableRandom(o.seed());
        DecoderModel shared = null;
        DecoderModel paired = null;
        double errLogps = 0;
        double errLoss = 0;
        double errGrads = 0;
        String worst = "";
        int seqs = 0;
        int sRows = 0;
        int pRows = 0;
        long sTok = 0;
        long pTok = 0;
        long nextId = 0;
        for (int b = 0; b < o.batches(); b++) {
            List<TokenizedExample> ex = new ArrayList<>();
            int n = o.rowsPerBatch() * o.docsPerRow();
            for (int i = 0; i < n; i++) {
                // the first example of every batch has 3 responses; edge prompts (0, 1 tokens) come often
                ex.add(randomExample(rnd, nextId++, o.config().vocabSize(), o.maxPrompt(), o.maxResponse(),
                        i == 0 ? 3 : 0));
            }
            LayoutBatch sb = sharedBatch(ex, o.docsPerRow(), 1 + rnd.nextInt(3));
            LayoutBatch pb = pairedBatch(ex, rnd.nextInt(2));
            if (shared == null || loss.perBatchGraph()) {
                shared = DecoderModel.create(o.config(), o.seed(), o.implementation(), o.initStd());
                paired = DecoderModel.create(o.config(), o.seed(), o.implementation(), o.initStd());
            }
            if (shared.lossName() == null || loss.perBatchGraph()) {
                shared.setLoss((sd, lp) -> loss.build(sd, lp, sb));
                paired.setLoss((sd, lp) -> loss.build(sd, lp, pb));
            }
            DecoderModel.LossAndGradients gs = shared.lossAndGradients(sb, loss.feeds(sb, o.config().dataType()));
            DecoderModel.LossAndGradients gp = paired.lossAndGradients(pb, loss.feeds(pb, o.config().dataType()));
            errLogps = Math.max(errLogps, Errors.maxRelative(gs.logps(), reorder(gp.logps(), pb, sb)));
            errLoss = Math.max(errLoss, Math.abs(gs.loss() - gp.loss()) / Math.max(Math.abs(gp.loss()), 1e-12));
            for (String p : shared.parameterNames()) {
                double e = Errors.maxRelative(gs.gradients().get(p), gp.gradients().get(p));
                if (!(e <= errGrads)) {
                    errGrads = Double.isNaN(e) ? Double.NaN : e;
                    worst = p;
                }
            }
            seqs += sb.sequences().size();
            sRows += sb.rows().size();
            pRows += pb.rows().size();
            sTok += sb.rowTokens();
            pTok += pb.rowTokens();
        }
        return new Result(errLogps, errLoss, errGrads, worst, o.batches(), seqs, sRows, sTok, pRows, pTok,
                loss.describe(), shared.implementation().name().toLowerCase());
    }

    // ------------------------------------------------------------------------------------------------ batches

    /**
     * A random example: prompt of 0..maxPrompt tokens (0 and 1 drawn one time in five each), {@code responses}
     * responses (0: 2 or 3 at random) of 1..maxResponse tokens (at least 2 when the prompt is empty, so each has a
     * label), ids in [3, vocab).
     */
    public static TokenizedExample randomExample(SplittableRandom rnd, long id, int vocab, int maxPrompt,
                                                 int maxResponse, int responses) {
        int pick = rnd.nextInt(10);
        int p = pick < 2 ? 0 : pick < 4 ? Math.min(1, maxPrompt) : rnd.nextInt(maxPrompt + 1);
        int nr = responses > 0 ? responses : 2 + rnd.nextInt(2);
        List<int[]> rs = new ArrayList<>();
        for (int r = 0; r < nr; r++) {
            int min = p == 0 ? 2 : 1;
            rs.add(ids(rnd, min + rnd.nextInt(Math.max(1, maxResponse - min + 1)), vocab));
        }
        return new TokenizedExample(id, "random:" + id, ids(rnd, p, vocab), rs, 0);
    }

    private static int[] ids(SplittableRandom rnd, int n, int vocab) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = 3 + rnd.nextInt(vocab - 3);
        }
        return a;
    }

    /** Prefix-shared packed: {@code docsPerRow} documents per row in order, rows padded to the longest + extra. */
    public static LayoutBatch sharedBatch(List<TokenizedExample> examples, int docsPerRow, int extraPadding) {
        List<List<Segment>> rows = new ArrayList<>();
        int t = 0;
        for (int i = 0; i < examples.size(); i += docsPerRow) {
            List<Segment> row = new ArrayList<>();
            int len = 0;
            for (int j = i; j < Math.min(examples.size(), i + docsPerRow); j++) {
                Segment s = SharedLayoutBuilder.build(examples.get(j));
                row.add(s);
                len += s.length();
            }
            rows.add(row);
            t = Math.max(t, len);
        }
        return assemble(rows, t + extraPadding);
    }

    /** Paired: one row per (prompt, response), padded to the longest + extra. */
    public static LayoutBatch pairedBatch(List<TokenizedExample> examples, int extraPadding) {
        List<List<Segment>> rows = new ArrayList<>();
        int t = 0;
        for (TokenizedExample e : examples) {
            for (Segment s : PairedLayoutBuilder.sequences(e)) {
                rows.add(List.of(s));
                t = Math.max(t, s.length());
            }
        }
        return assemble(rows, t + extraPadding);
    }

    private static LayoutBatch assemble(List<List<Segment>> rows, int t) {
        List<RowLayout> out = new ArrayList<>();
        List<SequenceInfo> seqs = new ArrayList<>();
        for (List<Segment> r : rows) {
            out.add(RowAssembler.assemble(r, t, 0, seqs.size(), seqs));
        }
        return new LayoutBatch(out, seqs);
    }

    /** Values of {@code from} (indexed by {@code fromBatch}'s sequences) in the sequence order of {@code to}. */
    public static INDArray reorder(INDArray values, LayoutBatch fromBatch, LayoutBatch to) {
        Map<String, Integer> index = new HashMap<>();
        for (int s = 0; s < fromBatch.sequences().size(); s++) {
            index.put(key(fromBatch.sequences().get(s)), s);
        }
        INDArray out = Nd4j.create(values.dataType(), to.sequences().size());
        for (int s = 0; s < to.sequences().size(); s++) {
            Integer i = index.get(key(to.sequences().get(s)));
            if (i == null) {
                throw new IllegalArgumentException("sequence " + to.sequences().get(s) + " is missing");
            }
            out.putScalar(s, values.getDouble(i));
        }
        return out;
    }

    private static String key(SequenceInfo s) {
        return s.exampleId() + "/" + s.rank();
    }

    /** A random value in [lo, hi) that depends only on (seed, example, rank): equal in both formats. */
    public static double keyed(long seed, SequenceInfo s, double lo, double hi) {
        long k = seed * 0x9E3779B97F4A7C15L + s.exampleId() * 1_000_003L + s.rank();
        return lo + (hi - lo) * new SplittableRandom(k).nextDouble();
    }

    /** {@code loss = sum_s w_s * logps_s} with w in [-1, 1) keyed by (example, rank); placeholder {@code w}. */
    public static BatchLoss weightedSum(long seed) {
        return new BatchLoss() {
            @Override
            public SDVariable build(SameDiff sd, SDVariable logps, LayoutBatch batch) {
                SDVariable w = sd.placeHolder("w", logps.dataType(), -1);
                return sd.sum("weightedLogps", logps.mul(w));
            }

            @Override
            public Map<String, INDArray> feeds(LayoutBatch batch, DataType dt) {
                double[] w = new double[batch.sequences().size()];
                for (int s = 0; s < w.length; s++) {
                    w[s] = keyed(seed, batch.sequences().get(s), -1, 1);
                }
                return Map.of("w", Nd4j.createFromArray(w).castTo(dt));
            }

            @Override
            public String describe() {
                return "sum_s w_s * logps_s (random w)";
            }
        };
    }
}
