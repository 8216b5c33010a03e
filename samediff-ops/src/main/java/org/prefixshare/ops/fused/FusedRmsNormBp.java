package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaBackwardOp;

import java.util.List;

/**
 * Backward op of {@link FusedRmsNorm}: (x, w, dy) to (dx shaped like x, dw shaped like w), with
 * {@code dx = r (w dy) - x r^3 mean(w dy x)} and {@code dw = sum over rows of dy x r}. Not differentiable itself.
 */
public class FusedRmsNormBp extends JavaBackwardOp {

    public static final String OP_NAME = "prefixshare_rms_norm_bp";

    /** For ND4J's reflection (graph loading). */
    public FusedRmsNormBp() {
    }

    public FusedRmsNormBp(SameDiff sd, SDVariable x, SDVariable w, SDVariable dy, double eps) {
        super(sd, new SDVariable[]{x, w, dy}, eps);
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
        FusedKernels.rmsNormCols(OP_NAME, in.get(0), in.get(1));
        return List.of(LongShapeDescriptor.fromShape(in.get(0).shape(), in.get(0).dataType()),
                LongShapeDescriptor.fromShape(in.get(1).shape(), in.get(0).dataType()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.rmsNormBackward(OP_NAME, in.get(0), in.get(1), in.get(2), tArgs()[0], out.get(0), out.get(1));
    }

    @Override
    protected String forwardName() {
        return FusedRmsNorm.OP_NAME;
    }
}
