package org.prefixshare.ops.attention;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.backend.AttentionDims;
import org.prefixshare.ops.backend.NativeCpuAttention;
import org.prefixshare.ops.exec.JavaBackwardOp;

import java.util.Arrays;
import java.util.List;

/**
 * Backward op of {@link PrefixShareAttention}: (q, k, v, node, subtreeEnd, out, lse, dOut) to (dq, dk, dv),
 * recomputing the probabilities from lse (FlashAttention style). Not differentiable itself.
 */
public class PrefixShareAttentionBp extends JavaBackwardOp {

    public static final String OP_NAME = "prefixshare_attention_bp";

    /** For ND4J's reflection (graph loading). */
    public PrefixShareAttentionBp() {
    }

    public PrefixShareAttentionBp(SameDiff sd, SDVariable q, SDVariable k, SDVariable v, SDVariable node,
                                  SDVariable subtreeEnd, SDVariable out, SDVariable lse, SDVariable dOut,
                                  double scale) {
        super(sd, new SDVariable[]{q, k, v, node, subtreeEnd, out, lse, dOut}, scale);
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    protected int outputCount() {
        return 3;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        AttentionDims d = AttentionDims.of(in.get(0), in.get(1), in.get(2), in.get(3), in.get(4));
        return Arrays.asList(
                LongShapeDescriptor.fromShape(d.qShape(), in.get(0).dataType()),
                LongShapeDescriptor.fromShape(d.kvShape(), in.get(1).dataType()),
                LongShapeDescriptor.fromShape(d.kvShape(), in.get(2).dataType()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        NativeCpuAttention.backward(in.get(0), in.get(1), in.get(2), in.get(3), in.get(4), in.get(5), in.get(6),
                in.get(7), tArgs()[0], out.get(0), out.get(1), out.get(2));
    }

    @Override
    protected String forwardName() {
        return "prefix-shared attention";
    }
}
