package org.prefixshare.ops.attention;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.backend.AttentionDims;
import org.prefixshare.ops.backend.NativeCpuAttention;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.Arrays;
import java.util.List;

/**
 * Forward op of prefix-shared attention. Inputs: q {@code [B,T,Hq,D]}, k, v {@code [B,T,Hkv,D]}, node and
 * subtreeEnd {@code [B,T]} (any numeric type; integer-valued). Attribute: the softmax scale. Outputs: out
 * {@code [B,T,Hq,D]} and the row log-sum-exp {@code [B,Hq,T]} (saved for the backward op; it carries no gradient;
 * its type is {@link AttentionDims#lseType}: DOUBLE for DOUBLE inputs, else FLOAT, so 16-bit inputs keep it exact).
 * The mask is {@link AncestorMask}'s rule. Build it with {@link PrefixShareOps}, not directly.
 */
public class PrefixShareAttention extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_attention";

    /** For ND4J's reflection (graph loading). */
    public PrefixShareAttention() {
    }

    public PrefixShareAttention(SameDiff sd, SDVariable q, SDVariable k, SDVariable v, SDVariable node,
                                SDVariable subtreeEnd, double scale) {
        super(sd, new SDVariable[]{q, k, v, node, subtreeEnd}, scale);
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    protected int outputCount() {
        return 2;
    }

    double scale() {
        return tArgs()[0];
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> inputTypes) {
        DataType q = inputTypes.get(0);
        return Arrays.asList(q, AttentionDims.lseType(q));
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        AttentionDims d = AttentionDims.of(in.get(0), in.get(1), in.get(2), in.get(3), in.get(4));
        DataType q = in.get(0).dataType();
        return Arrays.asList(
                LongShapeDescriptor.fromShape(d.qShape(), q),
                LongShapeDescriptor.fromShape(d.lseShape(), AttentionDims.lseType(q)));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        NativeCpuAttention.forward(in.get(0), in.get(1), in.get(2), in.get(3), in.get(4), scale(),
                out.get(0), out.get(1));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        SDVariable[] outputs = outputVariables();
        SDVariable dOut = grads.get(0) != null ? grads.get(0) : sameDiff.zerosLike(outputs[0]);
        SDVariable[] in = args();
        SDVariable[] g = new PrefixShareAttentionBp(sameDiff, in[0], in[1], in[2], in[3], in[4], outputs[0],
                outputs[1], dOut, scale()).outputVariables();
        // node and subtreeEnd are integer-valued layout data: zero gradient (a float path DL4J vertices need)
        return Arrays.asList(g[0], g[1], g[2], sameDiff.zerosLike(in[3]), sameDiff.zerosLike(in[4]));
    }
}
