package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.Arrays;
import java.util.List;

/**
 * Fused HF {@code LlamaRMSNorm} over the last dimension: inputs x {@code [..., H]} and the weight w (H elements, e.g.
 * {@code [H]} or {@code [1,H]}); attribute eps; output {@code y = (x * r) * w} with
 * {@code r = 1 / sqrt(mean(x^2) + eps)} per row, shaped like x. Native kernel, float or double. Build it with
 * {@link FusedOps#rmsNorm}, not directly.
 */
public class FusedRmsNorm extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_rms_norm";

    /** For ND4J's reflection (graph loading). */
    public FusedRmsNorm() {
    }

    public FusedRmsNorm(SameDiff sd, SDVariable x, SDVariable w, double eps) {
        super(sd, new SDVariable[]{x, w}, eps);
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    double eps() {
        return tArgs()[0];
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        FusedKernels.rmsNormCols(OP_NAME, in.get(0), in.get(1));
        return List.of(LongShapeDescriptor.fromShape(in.get(0).shape(), in.get(0).dataType()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        FusedKernels.rmsNormForward(OP_NAME, in.get(0), in.get(1), eps(), out.get(0));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        SDVariable dy = grads.get(0) != null ? grads.get(0) : sameDiff.zerosLike(outputVariables()[0]);
        SDVariable[] in = args();
        SDVariable[] g = new FusedRmsNormBp(sameDiff, in[0], in[1], dy, eps()).outputVariables();
        return Arrays.asList(g[0], g[1]);
    }
}
