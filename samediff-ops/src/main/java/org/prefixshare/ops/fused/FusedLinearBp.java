package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaBackwardOp;

import java.util.List;

/**
 * Backward op of {@link FusedLinear}: (x, w, dy) to {@code dx = dy w} and {@code dw = dy^T x} (over all rows of x),
 * two native matrix products; for a frozen w ({@code weightGradient} false) dx alone, one product. Not differentiable
 * itself.
 */
public class FusedLinearBp extends JavaBackwardOp {

    public static final String OP_NAME = "prefixshare_linear_bp";

    /** For ND4J's reflection (graph loading). */
    public FusedLinearBp() {
    }

    /** @param weightGradient whether w gets a gradient (a second output); false for a frozen weight */
    public FusedLinearBp(SameDiff sd, SDVariable x, SDVariable w, SDVariable dy, boolean weightGradient) {
        super(sd, new SDVariable[]{x, w, dy}, weightGradient ? 1 : 0);
    }

    /** Graphs saved before the attribute existed have no t-args: both gradients. */
    private boolean weightGradient() {
        return tArgs().length == 0 || tArgs()[0] != 0;
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    protected int outputCount() {
        return weightGradient() ? 2 : 1;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        FusedKernels.linearOutputShape(OP_NAME, in.get(0), in.get(1));
        LongShapeDescriptor dx = LongShapeDescriptor.fromShape(in.get(0).shape(), in.get(0).dataType());
        return weightGradient() ? List.of(dx, LongShapeDescriptor.fromShape(in.get(1).shape(), in.get(0).dataType()))
                : List.of(dx);
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.linearBackward(OP_NAME, in.get(0), in.get(1), in.get(2), out.get(0),
                weightGradient() ? out.get(1) : null);
    }

    @Override
    protected String forwardName() {
        return FusedLinear.OP_NAME;
    }
}
