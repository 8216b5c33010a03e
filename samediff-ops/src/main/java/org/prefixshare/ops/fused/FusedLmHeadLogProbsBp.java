package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaBackwardOp;

import java.util.List;

/**
 * Backward op of {@link FusedLmHeadLogProbs}: (hidden, head, labels, lse, dy) to {@code dHidden [N,H]} and, unless
 * the head is frozen, {@code dHead [V,H]}, with {@code dlogit[n, v] = dy[n] ([v == labels[n]] - exp(logit[n, v] -
 * lse[n]))} recomputed a block of logits at a time. Not differentiable itself.
 */
public class FusedLmHeadLogProbsBp extends JavaBackwardOp {

    public static final String OP_NAME = "prefixshare_lm_head_logprobs_bp";

    /** For ND4J's reflection (graph loading). */
    public FusedLmHeadLogProbsBp() {
    }

    /** @param headGradient whether the head gets a gradient (a second output); false for a frozen head */
    public FusedLmHeadLogProbsBp(SameDiff sd, SDVariable hidden, SDVariable head, SDVariable labels, SDVariable lse,
                                 SDVariable dy, boolean headGradient) {
        super(sd, new SDVariable[]{hidden, head, labels, lse, dy}, headGradient ? 1 : 0);
    }

    private boolean headGradient() {
        return tArgs().length == 0 || tArgs()[0] != 0;
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    protected int outputCount() {
        return headGradient() ? 2 : 1;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        FusedKernels.lmHeadShape(OP_NAME, in.get(0), in.get(1), in.get(2));
        LongShapeDescriptor dHidden = LongShapeDescriptor.fromShape(in.get(0).shape(), in.get(0).dataType());
        return headGradient() ? List.of(dHidden, LongShapeDescriptor.fromShape(in.get(1).shape(),
                in.get(0).dataType())) : List.of(dHidden);
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.lmHeadBackward(OP_NAME, in.get(0), in.get(1), in.get(2), in.get(3), in.get(4), out.get(0),
                headGradient() ? out.get(1) : null);
    }

    @Override
    protected String forwardName() {
        return FusedLmHeadLogProbs.OP_NAME;
    }
}
