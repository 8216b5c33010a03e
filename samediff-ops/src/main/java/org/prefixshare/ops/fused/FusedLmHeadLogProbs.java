package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.List;

/**
 * The LM head fused with the log-softmax at the labels (Liger Kernel's fused linear cross-entropy): inputs hidden
 * {@code [N,H]}, head {@code [V,H]} (HF's {@code lm_head.weight}, or the tied embedding) and labels {@code [N]}
 * (token ids in any numeric type: INT32 feeds or float-typed placeholders); outputs
 * {@code logp[n] = log softmax(hidden[n] head^T)[labels[n]]} {@code [N]} and the log-sum-exp {@code lse [N]}, saved
 * for the backward ({@link FusedLmHeadLogProbsBp}, which recomputes the logits a block at a time). The {@code [N,V]}
 * logits never exist: the native kernel keeps one reused block of at most 64 MiB, where the decomposed formulation
 * ({@link FusedOps#linear} then {@link FusedOps#labelLogProbs}) holds N x V logits and as many gradients (2.5 GB at
 * N = 2,048 and V = 152,064 in float).
 *
 * <p>Gradients: hidden always; the head too when it is FLOAT or DOUBLE (full fine-tuning, tied embeddings). A
 * BFLOAT16 head (beside FLOAT hidden) is frozen: read at two bytes a parameter, widened exactly, and given no gradient
 * (its product is skipped). The labels never get one, and a gradient reaching lse is ignored (it is a saved
 * activation, as the attention op's lse). Build it with {@link FusedOps#lmHeadLabelLogProbs}, not directly.
 */
public class FusedLmHeadLogProbs extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_lm_head_logprobs";

    /** For ND4J's reflection (graph loading). */
    public FusedLmHeadLogProbs() {
    }

    public FusedLmHeadLogProbs(SameDiff sd, SDVariable hidden, SDVariable head, SDVariable labels) {
        super(sd, new SDVariable[]{hidden, head, labels});
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    protected int outputCount() {
        return 2;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        LongShapeDescriptor d = LongShapeDescriptor.fromShape(
                FusedKernels.lmHeadShape(OP_NAME, in.get(0), in.get(1), in.get(2)), in.get(0).dataType());
        return List.of(d, d);
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.lmHeadForward(OP_NAME, in.get(0), in.get(1), in.get(2), out.get(0), out.get(1));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        SDVariable[] outputs = outputVariables();
        SDVariable dy = grads.get(0) != null ? grads.get(0) : sameDiff.zerosLike(outputs[0]);
        SDVariable[] in = args();
        boolean frozen = in[1].dataType() == DataType.BFLOAT16;
        SDVariable[] g = new FusedLmHeadLogProbsBp(sameDiff, in[0], in[1], in[2], outputs[1], dy, !frozen)
                .outputVariables();
        // SameDiff walks the returned list: leaving out the trailing labels (and a frozen head before them) gives
        // them no gradient ops at all
        return frozen ? List.of(g[0]) : List.of(g[0], g[1]);
    }
}
