package org.prefixshare.model;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.RowLayout;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.ops.attention.Errors;
import org.prefixshare.ops.attention.PrefixShareOps;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The central claim: the same model on the same examples gives the same per-sequence log-probs, loss and parameter
 * gradients in the paired format and in the prefix-shared packed format (float64: 1e-9 relative, float32: 1e-4).
 */
class EquivalenceTest {

    private static void check(EquivalenceCheck.Result r, double tol) {
        String msg = r.toString();
        System.out.println("equivalence: " + msg);
        assertTrue(r.maxRelErrLogps() <= tol, "logps: " + msg);
        assertTrue(r.maxRelErrLoss() <= tol, "loss: " + msg);
        assertTrue(r.maxRelErrGrads() <= tol, "gradients: " + msg);
        assertTrue(r.sharedRowTokens() < r.pairedRowTokens(), "prefix sharing must save tokens: " + msg);
    }

    @Test
    void float64FiftyRandomBatchesNativeOrDefaultAttention() {
        // one row of 4 documents per batch keeps 50 batches fast; the other tests use 2 rows
        EquivalenceCheck.Options d = EquivalenceCheck.Options.defaults(50, 42);
        check(EquivalenceCheck.run(new EquivalenceCheck.Options(d.config(), d.seed(), d.batches(), 1, 4,
                d.maxPrompt(), d.maxResponse(), d.implementation(), d.initStd())), 1e-9);
    }

    @Test
    void float64WithTheDenseReferenceAttention() {
        check(EquivalenceCheck.run(EquivalenceCheck.Options.defaults(3, 43)
                .withImplementation(PrefixShareOps.Implementation.REFERENCE)), 1e-9);
    }

    @Test
    void float32() {
        check(EquivalenceCheck.run(EquivalenceCheck.Options.defaults(4, 44)
                .withConfig(DecoderConfig.tiny().withDataType(DataType.FLOAT))), 1e-4);
    }

    @Test
    void float64SigmoidDpoLossBuiltPerBatch() {
        check(EquivalenceCheck.run(EquivalenceCheck.Options.defaults(3, 45), inlineSigmoidDpo(9)), 1e-9);
    }

    @Test
    void edgeCasesThreeResponsesEmptyAndOneTokenPrompts() {
        DecoderConfig cfg = DecoderConfig.tiny().withDataType(DataType.DOUBLE);
        List<TokenizedExample> ex = new ArrayList<>(DecoderModelTest.examples(17, 4, cfg.vocabSize()));
        DecoderModel m = DecoderModel.create(cfg, 3, PrefixShareOps.Implementation.AUTO, 0.1);
        LayoutBatch shared = EquivalenceCheck.sharedBatch(ex, ex.size(), 0);   // all 6 documents in one row
        LayoutBatch paired = EquivalenceCheck.pairedBatch(ex, 0);
        assertEquals(1, shared.rows().size());
        INDArray s = m.logps(shared);
        INDArray p = EquivalenceCheck.reorder(m.logps(paired), paired, shared);
        double err = Errors.maxRelative(s, p);
        assertTrue(err <= 1e-9, "max rel err " + err + "\nshared " + s + "\npaired " + p + "\n"
                + shared.rows().get(0).describe(200) + shared.rows().get(0).toAscii(100));
    }

    @Test
    void aLayoutMistakeIsCaught() {
        // negative control: merging the branches of each document (siblings see each other) must be detected
        DecoderConfig cfg = DecoderConfig.tiny().withDataType(DataType.DOUBLE);
        List<TokenizedExample> ex = DecoderModelTest.examples(5, 3, cfg.vocabSize());
        DecoderModel m = DecoderModel.create(cfg, 3, PrefixShareOps.Implementation.AUTO, 0.1);
        LayoutBatch good = EquivalenceCheck.sharedBatch(ex, ex.size(), 0);
        RowLayout r = good.rows().get(0);
        int[] node = r.node();
        int[] end = r.subtreeEnd();
        int root = -1;
        int rootEnd = -1;
        for (int t = 0; t < r.used(); t++) {
            if (r.subtreeEnd(t) > r.node(t)) {          // a prompt token: remember its document's root
                root = r.node(t);
                rootEnd = r.subtreeEnd(t);
                end[t] = root + 1;
            } else if (r.node(t) > root && r.node(t) <= rootEnd) {
                node[t] = root + 1;                      // every branch of the document becomes the first branch
                end[t] = root + 1;
            }
        }
        LayoutBatch bad = new LayoutBatch(List.of(new RowLayout(r.token(), r.position(), node, end, r.label(),
                r.seq(), r.used())), good.sequences());
        INDArray lpBad = m.logps(bad);
        INDArray lpGood = m.logps(good);
        double chosenErr = 0;
        double rejectedErr = 0;
        for (int s = 0; s < good.sequences().size(); s++) {
            double e = Math.abs(lpBad.getDouble(s) - lpGood.getDouble(s)) / Math.abs(lpGood.getDouble(s));
            if (good.sequences().get(s).rank() == 0) {
                chosenErr = Math.max(chosenErr, e);
            } else {
                rejectedErr = Math.max(rejectedErr, e);
            }
        }
        assertTrue(chosenErr <= 1e-12, "the first branch sees nothing new, yet changed by " + chosenErr);
        assertTrue(rejectedErr > 1e-3, "later branches now see their siblings: must change, changed only "
                + rejectedErr);
    }

    /**
     * Sigmoid DPO written inline: pairs (rank 0, rank r) of every example, margins
     * {@code beta ((pi_c - ref_c) - (pi_r - ref_r))}, loss = mean softplus(-margin). The pair gathers are built from
     * the batch's sequence table, so the graph is per batch.
     */
    static EquivalenceCheck.BatchLoss inlineSigmoidDpo(long seed) {
        return new EquivalenceCheck.BatchLoss() {
            @Override
            public SDVariable build(SameDiff sd, SDVariable logps, LayoutBatch batch) {
                List<SequenceInfo> seqs = batch.sequences();
                Map<Long, Integer> chosen = new HashMap<>();
                for (int i = 0; i < seqs.size(); i++) {
                    if (seqs.get(i).rank() == 0) {
                        chosen.put(seqs.get(i).exampleId(), i);
                    }
                }
                List<int[]> pairs = new ArrayList<>();
                for (int i = 0; i < seqs.size(); i++) {
                    if (seqs.get(i).rank() > 0) {
                        pairs.add(new int[]{chosen.get(seqs.get(i).exampleId()), i});
                    }
                }
                double[][] sel = new double[pairs.size()][seqs.size()];  // +1 chosen, -1 rejected
                for (int k = 0; k < pairs.size(); k++) {
                    sel[k][pairs.get(k)[0]] = 1;
                    sel[k][pairs.get(k)[1]] = -1;
                }
                SDVariable ref = sd.placeHolder("ref", logps.dataType(), -1);
                SDVariable diff = sd.reshape(logps.sub(ref), -1, 1);
                SDVariable margin = sd.mmul(sd.constant(Nd4j.createFromArray(sel).castTo(logps.dataType())), diff)
                        .mul(0.1);
                return sd.mean("dpo", sd.nn().softplus(margin.neg()));
            }

            @Override
            public Map<String, INDArray> feeds(LayoutBatch batch, DataType dt) {
                double[] ref = new double[batch.sequences().size()];
                for (int s = 0; s < ref.length; s++) {
                    ref[s] = EquivalenceCheck.keyed(seed, batch.sequences().get(s), -60, -20);
                }
                return Map.of("ref", Nd4j.createFromArray(ref).castTo(dt));
            }

            @Override
            public boolean perBatchGraph() {
                return true;
            }

            @Override
            public String describe() {
                return "inline sigmoid DPO";
            }
        };
    }
}
