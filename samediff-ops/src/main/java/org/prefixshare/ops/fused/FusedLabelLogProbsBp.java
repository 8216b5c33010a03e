package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaBackwardOp;

import java.util.List;

/**
 * Backward op of {@link FusedLabelLogProbs}: (logits, labels, dy) to
 * {@code dLogits[n, v] = dy[n] ([v == labels[n]] - softmax(logits[n])_v)}, the softmax recomputed per row. Not
 * differentiable itself.
 */
public class FusedLabelLogProbsBp extends JavaBackwardOp {

    public static final String OP_NAME = "prefixshare_label_logprobs_bp";

    /** For ND4J's reflection (graph loading). */
    public FusedLabelLogProbsBp() {
    }

    public FusedLabelLogProbsBp(SameDiff sd, SDVariable logits, SDVariable labels, SDVariable dy) {
        super(sd, new SDVariable[]{logits, labels, dy});
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        return List.of(LongShapeDescriptor.fromShape(in.get(0).shape(), in.get(0).dataType()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.labelLogProbBackward(OP_NAME, in.get(0), in.get(1), in.get(2), out.get(0));
    }

    @Override
    protected String forwardName() {
        return FusedLabelLogProbs.OP_NAME;
    }
}
