package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.Arrays;
import java.util.List;

/**
 * Fused SwiGLU activation: inputs gate and up of one shape ({@code [M, I]}); output {@code silu(gate) * up} with
 * {@code silu(g) = g sigmoid(g)}, shaped like gate. Native kernel, float or double; no NaN for large |gate|. Build it
 * with {@link FusedOps#swiGlu}, not directly.
 */
public class FusedSwiGlu extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_swiglu";

    private static final String[] NAMES = {"gate", "up"};

    /** For ND4J's reflection (graph loading). */
    public FusedSwiGlu() {
    }

    public FusedSwiGlu(SameDiff sd, SDVariable gate, SDVariable up) {
        super(sd, new SDVariable[]{gate, up});
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        FusedKernels.requireSameShape(OP_NAME, NAMES, in.get(0), in.get(1));
        return List.of(LongShapeDescriptor.fromShape(in.get(0).shape(), in.get(0).dataType()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.swiGluForward(OP_NAME, in.get(0), in.get(1), out.get(0));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        SDVariable dy = grads.get(0) != null ? grads.get(0) : sameDiff.zerosLike(outputVariables()[0]);
        SDVariable[] in = args();
        SDVariable[] g = new FusedSwiGluBp(sameDiff, in[0], in[1], dy).outputVariables();
        return Arrays.asList(g[0], g[1]);
    }
}
