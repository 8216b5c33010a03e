package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.Arrays;
import java.util.List;

/**
 * Fused rotate-half rotary position embedding (HF {@code apply_rotary_pos_emb}): inputs x {@code [M, heads*D]}
 * (more generally {@code [..., heads*D]}), cos and sin {@code [M, D]} (one row per row of x, D even); output y shaped
 * like x, {@code y[m,h,j] = x[m,h,j] cos[m,j] + rotate_half(x)[m,h,j] sin[m,j]}. The head count follows from the
 * shapes at run time. cos and sin are treated as constants: their gradients are zero. Build it with
 * {@link FusedOps#rope}, not directly.
 */
public class FusedRope extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_rope";

    /** For ND4J's reflection (graph loading). */
    public FusedRope() {
    }

    public FusedRope(SameDiff sd, SDVariable x, SDVariable cos, SDVariable sin) {
        super(sd, new SDVariable[]{x, cos, sin});
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        FusedKernels.ropeHeads(OP_NAME, in.get(0), in.get(1), in.get(2));
        return List.of(LongShapeDescriptor.fromShape(in.get(0).shape(), in.get(0).dataType()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.ropeForward(OP_NAME, in.get(0), in.get(1), in.get(2), out.get(0));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        SDVariable dy = grads.get(0) != null ? grads.get(0) : sameDiff.zerosLike(outputVariables()[0]);
        SDVariable[] in = args();
        SDVariable dx = new FusedRopeBp(sameDiff, dy, in[1], in[2]).outputVariable();
        // the tables are functions of integer positions: no gradient (a zero float path keeps DL4J vertices happy)
        return Arrays.asList(dx, sameDiff.zerosLike(in[1]), sameDiff.zerosLike(in[2]));
    }
}
