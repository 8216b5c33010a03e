package org.prefixshare.train;

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
import org.prefixshare.loss.Metric;
import org.prefixshare.loss.PairIndex;
import org.prefixshare.loss.PairLogps;
import org.prefixshare.model.DecoderModel;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The DPO loss family attached to a {@link DecoderModel}: per-sequence log-probs are gathered into (chosen,
 * rejected) pairs by one-hot selection placeholders, reference log-probs and token counts enter as placeholders,
 * and {@link DpoLoss} computes the loss and TRL's metrics. {@link #feeds} turns a batch's sequence table into those
 * placeholders.
 */
public final class DpoObjective {

    static final String SEL_CHOSEN = "pairChosen";
    static final String SEL_REJECTED = "pairRejected";
    static final String SEQ_TOKENS = "seqTokens";
    static final String SEQ_REF_LOGPS = "seqRefLogps";
    static final String BCO_DELTA = "bcoDelta";

    private final DecoderModel model;
    private final LossConfig loss;
    private final boolean needsReference;
    private final boolean needsBcoDelta;
    private final String lossName;

    /** Attaches the loss to the model's graph (once per model). */
    public DpoObjective(DecoderModel model, LossConfig loss) {
        this.model = model;
        this.loss = loss;
        this.needsReference = loss.needsReference();
        this.needsBcoDelta = loss.terms().stream().anyMatch(t -> t.type() == LossType.BCO_PAIR);
        this.lossName = model.setLoss(this::build).name();
    }

    private SDVariable build(SameDiff sd, SDVariable logps) {
        DataType dt = logps.dataType();
        SDVariable selC = sd.placeHolder(SEL_CHOSEN, dt, -1, -1);
        SDVariable selR = sd.placeHolder(SEL_REJECTED, dt, -1, -1);
        SDVariable tokens = sd.placeHolder(SEQ_TOKENS, dt, -1);
        SDVariable ref = needsReference ? sd.placeHolder(SEQ_REF_LOGPS, dt, -1) : null;
        PairLogps pairs = PairLogps.fromSelections(logps, ref, tokens, selC, selR);
        if (needsBcoDelta) {
            pairs = pairs.withBcoDelta(sd.placeHolder(BCO_DELTA, dt));
        }
        return DpoLoss.build(sd, pairs, loss);
    }

    /** Whether the loss needs reference log-probs. */
    public boolean needsReference() {
        return needsReference;
    }

    /** The loss configuration. */
    public LossConfig lossConfig() {
        return loss;
    }

    /** The model the loss is attached to. */
    public DecoderModel model() {
        return model;
    }

    /** Name of the scalar loss variable. */
    public String lossName() {
        return lossName;
    }

    /** Names of the metric variables (see {@link Metric}). */
    public List<String> metricNames() {
        return List.of(Metric.varNames());
    }

    /**
     * Every placeholder value of the graph for a batch. Reference log-probs come from {@code refLogps} when given
     * (live reference), else from the batch's sequence table (precomputed); {@code bcoDelta} is read only when the
     * loss has a bco_pair term.
     */
    public Map<String, INDArray> feeds(LayoutBatch batch, INDArray refLogps, double bcoDelta) {
        DataType dt = model.config().dataType();
        List<SequenceInfo> seqs = batch.sequences();
        int s = seqs.size();
        int[] exampleId = new int[s];
        int[] rank = new int[s];
        double[] tokens = new double[s];
        double[] refs = new double[s];
        for (int i = 0; i < s; i++) {
            SequenceInfo si = seqs.get(i);
            exampleId[i] = Math.toIntExact(si.exampleId());
            rank[i] = si.rank();
            tokens[i] = si.tokenCount();
            refs[i] = si.refLogp();
        }
        Map<String, INDArray> f = new HashMap<>(model.feeds(batch));
        INDArray[] sel = PairLogps.selectionMatrices(PairIndex.fromSequenceTable(exampleId, rank), dt);
        f.put(SEL_CHOSEN, sel[0]);
        f.put(SEL_REJECTED, sel[1]);
        f.put(SEQ_TOKENS, Nd4j.createFromArray(tokens).castTo(dt));
        if (needsReference) {
            INDArray r = refLogps != null ? refLogps.castTo(dt) : Nd4j.createFromArray(refs).castTo(dt);
            if (r.isNaN().any()) {
                throw new IllegalStateException("the loss " + loss.terms() + " needs reference log-probs, but the "
                        + "batch has sequences without one (reference mode none, or a precomputed file that does "
                        + "not cover these examples)");
            }
            f.put(SEQ_REF_LOGPS, r);
        }
        if (needsBcoDelta) {
            f.put(BCO_DELTA, Nd4j.scalar(dt, bcoDelta));
        }
        return f;
    }
}
