package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaBackwardOp;

import java.util.List;

/**
 * Backward op of {@link FusedRope}: (dy, cos, sin) to dx, the transpose of the forward's linear map
 * ({@code dx[i] = dy[i] cos[i] + dy[i+D/2] sin[i+D/2]} for {@code i < D/2},
 * {@code dx[i] = dy[i] cos[i] - dy[i-D/2] sin[i-D/2]} otherwise). Not differentiable itself.
 */
public class FusedRopeBp extends JavaBackwardOp {

    public static final String OP_NAME = "prefixshare_rope_bp";

    /** For ND4J's reflection (graph loading). */
    public FusedRopeBp() {
    }

    public FusedRopeBp(SameDiff sd, SDVariable dy, SDVariable cos, SDVariable sin) {
        super(sd, new SDVariable[]{dy, cos, sin});
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
        FusedKernels.ropeBackward(OP_NAME, in.get(0), in.get(1), in.get(2), out.get(0));
    }

    @Override
    protected String forwardName() {
        return FusedRope.OP_NAME;
    }
}
