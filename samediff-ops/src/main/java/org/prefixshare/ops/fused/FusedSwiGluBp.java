package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaBackwardOp;

import java.util.List;

/**
 * Backward op of {@link FusedSwiGlu}: (gate, up, dy) to (dgate, dup) with {@code s = sigmoid(gate)},
 * {@code dgate = dy up s (1 + gate (1 - s))}, {@code dup = dy gate s}. Not differentiable itself.
 */
public class FusedSwiGluBp extends JavaBackwardOp {

    public static final String OP_NAME = "prefixshare_swiglu_bp";

    private static final String[] NAMES = {"gate", "up", "dy"};

    /** For ND4J's reflection (graph loading). */
    public FusedSwiGluBp() {
    }

    public FusedSwiGluBp(SameDiff sd, SDVariable gate, SDVariable up, SDVariable dy) {
        super(sd, new SDVariable[]{gate, up, dy});
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
        FusedKernels.requireSameShape(OP_NAME, NAMES, in.get(0), in.get(1), in.get(2));
        LongShapeDescriptor d = LongShapeDescriptor.fromShape(in.get(0).shape(), in.get(0).dataType());
        return List.of(d, d);
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.swiGluBackward(OP_NAME, in.get(0), in.get(1), in.get(2), out.get(0), out.get(1));
    }

    @Override
    protected String forwardName() {
        return FusedSwiGlu.OP_NAME;
    }
}
