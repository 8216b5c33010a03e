package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.Arrays;
import java.util.List;

/**
 * Fused label log-probability: inputs logits {@code [N,V]} and labels {@code [N]} (integer values in any numeric
 * type); output {@code logp[n] = logits[n, labels[n]] - log(sum_v exp(logits[n, v]))}, the log-softmax read at the
 * label, {@code [N]}. One native pass per row forward and one backward ({@link FusedLabelLogProbsBp}), where the
 * written-out log-softmax costs ten SameDiff ops and as many {@code [N,V]} temporaries each way. Differentiable in the
 * logits; the labels get zeros. Build it with {@link FusedOps#labelLogProbs}, not directly.
 */
public class FusedLabelLogProbs extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_label_logprobs";

    /** For ND4J's reflection (graph loading). */
    public FusedLabelLogProbs() {
    }

    public FusedLabelLogProbs(SameDiff sd, SDVariable logits, SDVariable labels) {
        super(sd, new SDVariable[]{logits, labels});
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        return List.of(LongShapeDescriptor.fromShape(FusedKernels.labelLogProbShape(OP_NAME, in.get(0), in.get(1)),
                in.get(0).dataType()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.labelLogProbForward(OP_NAME, in.get(0), in.get(1), out.get(0));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        SDVariable dy = grads.get(0) != null ? grads.get(0) : sameDiff.zerosLike(outputVariables()[0]);
        SDVariable[] in = args();
        SDVariable dLogits = new FusedLabelLogProbsBp(sameDiff, in[0], in[1], dy).outputVariable();
        // labels are token ids: no gradient (a zero float path keeps DL4J vertices happy)
        return Arrays.asList(dLogits, sameDiff.zerosLike(in[1]));
    }
}
