package org.prefixshare.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.loss.DpoLoss;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.loss.LossType;
import org.prefixshare.loss.PairIndex;
import org.prefixshare.loss.PairLogps;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.EquivalenceCheck;
import org.prefixshare.ops.attention.PrefixShareOps;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code prefixshare check equivalence [--json]}. */
@Command(name = "equivalence", mixinStandardHelpOptions = true,
        description = "Score random examples with one random tiny model (float64) in the paired format and in the "
                + "prefix-shared packed format (>= 4 documents per row, 3 responses in one example per batch, empty "
                + "and 1-token prompts); report the max relative error of the per-sequence log-probs, of the sigmoid "
                + "DPO loss (random reference log-probs) and of every parameter gradient.")
public final class CheckEquivalenceCommand implements Callable<Integer> {

    @Option(names = "--json", description = "End with one JSON line holding every figure.")
    boolean json;

    @Option(names = "--batches", defaultValue = "8", description = "Random batches (default: ${DEFAULT-VALUE}).")
    int batches;

    @Option(names = "--docs-per-row", defaultValue = "4",
            description = "Documents per prefix-shared row (default: ${DEFAULT-VALUE}).")
    int docsPerRow;

    @Option(names = "--rows", defaultValue = "2",
            description = "Prefix-shared rows per batch (default: ${DEFAULT-VALUE}).")
    int rows;

    @Option(names = "--seed", defaultValue = "1", description = "Weights, examples and reference log-probs.")
    long seed;

    @Option(names = "--float32", description = "Check float32 instead of float64 (tolerance 1e-4 instead of 1e-9).")
    boolean float32;

    @Option(names = "--attention", defaultValue = "auto",
            description = "Attention implementation: auto, native or reference (default: ${DEFAULT-VALUE}).")
    String attention;

    @Override
    public Integer call() throws Exception {
        DataType dt = float32 ? DataType.FLOAT : DataType.DOUBLE;
        double tolerance = float32 ? 1e-4 : 1e-9;
        EquivalenceCheck.Options defaults = EquivalenceCheck.Options.defaults(batches, seed);
        EquivalenceCheck.Options o = new EquivalenceCheck.Options(DecoderConfig.tiny().withDataType(dt), seed,
                batches, rows, Math.max(1, docsPerRow), defaults.maxPrompt(), defaults.maxResponse(),
                PrefixShareOps.Implementation.valueOf(attention.toUpperCase(Locale.ROOT)), defaults.initStd());
        System.out.printf("model: tiny (%,d parameters, %s), %d batches of %d rows x %d documents, attention %s%n",
                o.config().parameterCount(), dt.name().toLowerCase(Locale.ROOT), batches, rows, docsPerRow,
                attention);
        long t0 = System.nanoTime();
        EquivalenceCheck.Result r;
        PrintStream out = System.out;
        System.setOut(ConsoleLogging.withoutNoise(out)); // M2.1 prints a line per op when it builds a gradient graph
        try {
            r = EquivalenceCheck.run(o, new SigmoidDpo(seed));
        } finally {
            System.out.flush();
            System.setOut(out);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        boolean ok = r.maxRelErrLogps() <= tolerance && r.maxRelErrLoss() <= tolerance
                && r.maxRelErrGrads() <= tolerance;
        System.out.printf("sequences scored: %d; rows x T: paired %d, prefix-shared %d (%.2fx fewer)%n",
                r.sequences(), r.pairedRowTokens(), r.sharedRowTokens(),
                (double) r.pairedRowTokens() / r.sharedRowTokens());
        System.out.printf("max_rel_err_logps %.3e%nmax_rel_err_loss  %.3e  (%s)%nmax_rel_err_grads %.3e  (worst: %s)%n",
                r.maxRelErrLogps(), r.maxRelErrLoss(), r.loss(), r.maxRelErrGrads(), r.worstGradient());
        System.out.printf("%s: all three <= %.0e (attention: %s, %.1f s)%n", ok ? "PASS" : "FAIL", tolerance,
                r.attention(), seconds);
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("max_rel_err_logps", r.maxRelErrLogps());
            m.put("max_rel_err_loss", r.maxRelErrLoss());
            m.put("max_rel_err_grads", r.maxRelErrGrads());
            m.put("tolerance", tolerance);
            m.put("pass", ok);
            m.put("dtype", dt.name().toLowerCase(Locale.ROOT));
            m.put("attention", r.attention());
            m.put("batches", r.batches());
            m.put("sequences", r.sequences());
            m.put("paired_row_tokens", r.pairedRowTokens());
            m.put("shared_row_tokens", r.sharedRowTokens());
            m.put("loss", r.loss());
            m.put("worst_gradient", r.worstGradient());
            m.put("seconds", seconds);
            System.out.println(new ObjectMapper().writeValueAsString(m));
        }
        return ok ? 0 : 1;
    }


    /**
     * TRL's sigmoid DPO loss (beta 0.1) from {@link DpoLoss}, with random reference log-probs keyed by (example,
     * rank) so both formats see the same ones. Pairs come from the batch's sequence table as [P,S] selection matrices
     * fed per batch (one graph for all batches; ND4J M2.1's gather backward fails when two gathers are
     * differentiated in one graph).
     */
    static final class SigmoidDpo implements EquivalenceCheck.BatchLoss {
        private final long seed;

        SigmoidDpo(long seed) {
            this.seed = seed;
        }

        @Override
        public SDVariable build(SameDiff sd, SDVariable logps, LayoutBatch batch) {
            DataType dt = logps.dataType();
            SDVariable chosenSel = sd.placeHolder("chosenSelection", dt, -1, -1);     // [P,S]
            SDVariable rejectedSel = sd.placeHolder("rejectedSelection", dt, -1, -1); // [P,S]
            SDVariable ref = sd.placeHolder("refLogps", dt, -1);
            SDVariable tokens = sd.placeHolder("seqTokens", dt, -1);
            PairLogps p = PairLogps.withReference(pick(sd, chosenSel, logps), pick(sd, rejectedSel, logps),
                    pick(sd, chosenSel, ref), pick(sd, rejectedSel, ref), pick(sd, chosenSel, tokens),
                    pick(sd, rejectedSel, tokens));
            return DpoLoss.build(sd, p, LossConfig.of(LossType.SIGMOID));
        }

        private static INDArray selection(int[] index, int s, DataType dt) {
            double[][] m = new double[index.length][s];
            for (int i = 0; i < index.length; i++) {
                m[i][index[i]] = 1.0;
            }
            return Nd4j.createFromArray(m).castTo(dt);
        }

        private static SDVariable pick(SameDiff sd, SDVariable selection, SDVariable perSequence) {
            return sd.reshape(sd.mmul(selection, sd.reshape(perSequence, -1, 1)), -1);
        }

        @Override
        public Map<String, INDArray> feeds(LayoutBatch batch, DataType dt) {
            int s = batch.sequences().size();
            double[] ref = new double[s];
            double[] tok = new double[s];
            for (int i = 0; i < s; i++) {
                SequenceInfo si = batch.sequences().get(i);
                // a reference near the policy's own log-probs (about -5.6 per token), so the loss is not saturated
                ref[i] = si.tokenCount() * EquivalenceCheck.keyed(seed, si, -6.5, -4.5);
                tok[i] = si.tokenCount();
            }
            int[] example = new int[s];
            int[] rank = new int[s];
            for (int i = 0; i < s; i++) {
                example[i] = Math.toIntExact(batch.sequences().get(i).exampleId());
                rank[i] = batch.sequences().get(i).rank();
            }
            PairIndex pairs = PairIndex.fromSequenceTable(example, rank);
            return Map.of("refLogps", Nd4j.createFromArray(ref).castTo(dt),
                    "seqTokens", Nd4j.createFromArray(tok).castTo(dt),
                    "chosenSelection", selection(pairs.chosen(), s, dt),
                    "rejectedSelection", selection(pairs.rejected(), s, dt));
        }

        @Override
        public String describe() {
            return "sigmoid DPO (org.prefixshare.loss.DpoLoss, beta 0.1, random reference)";
        }
    }
}
