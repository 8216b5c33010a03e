package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.Arrays;
import java.util.List;

/**
 * Linear layer without bias in Hugging Face's weight layout: x {@code [..., in]} times the transpose of w
 * {@code [out, in]}, output {@code [..., out]}. One native matrix product (see {@code native/src/cpu/gemm_cpu.cpp});
 * float or double. A BFLOAT16 w beside FLOAT x is a frozen weight (LoRA's base): read at two bytes a parameter,
 * widened to float32 exactly, and given no gradient (only x gets one, and the backward skips the weight product).
 * Build it with {@link FusedOps#linear}, not directly.
 */
public class FusedLinear extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_linear";

    /** For ND4J's reflection (graph loading). */
    public FusedLinear() {
    }

    public FusedLinear(SameDiff sd, SDVariable x, SDVariable w) {
        super(sd, new SDVariable[]{x, w});
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        return List.of(LongShapeDescriptor.fromShape(FusedKernels.linearOutputShape(OP_NAME, in.get(0), in.get(1)),
                in.get(0).dataType()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.linearForward(OP_NAME, in.get(0), in.get(1), out.get(0));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        SDVariable dy = grads.get(0) != null ? grads.get(0) : sameDiff.zerosLike(outputVariables()[0]);
        SDVariable[] in = args();
        boolean frozen = in[1].dataType() == DataType.BFLOAT16;
        SDVariable[] g = new FusedLinearBp(sameDiff, in[0], in[1], dy, !frozen).outputVariables();
        // a frozen w is the trailing input: leaving it out of the list gives it no gradient op at all
        return frozen ? List.of(g[0]) : Arrays.asList(g[0], g[1]);
    }
}
