package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A whole Llama / Mistral / Qwen2 decoder layer as one op: {@code h1 = h + o_proj(attn(rope(q_proj(n)),
 * rope(k_proj(n)), v_proj(n)))} with {@code n = input_layernorm(h)}, then {@code out = h1 + down_proj(silu(
 * gate_proj(n')) * up_proj(n'))} with {@code n' = post_attention_layernorm(h1)}, attention being the prefix-shared
 * op over the layout. Same arithmetic as the op-per-step formulation (the same native kernels in the same order);
 * the point is the number of ops: SameDiff spends ~0.1 ms of bookkeeping per op execution, and a layer's forward and
 * backward are ~45 ops when built from the fused row-wise ops, 2 as this op.
 *
 * <p>Inputs: h {@code [M,H]}; the weights in {@link DecoderLayerWeights} order; cos and sin {@code [M,D]}; node and
 * subtreeEnd {@code [R,T]} with {@code R*T = M}. Attributes: RMSNorm eps and the softmax scale. Outputs: the layer's
 * output {@code [M,H]} and the saved activations ({@link LayerWorkspace}, an integer-typed array that carries no
 * gradient). Gradients flow to h and the weights; the tables and the layout get none (or exact zeros, for DL4J
 * vertices). Float or double; needs the
 * native library and the CPU backend. Build it with {@link FusedOps#decoderLayer}.
 */
public class FusedDecoderLayer extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_decoder_layer";

    /** For ND4J's reflection (graph loading). */
    public FusedDecoderLayer() {
    }

    /** The op over {@code inputs} (see {@link DecoderLayerKernels.Inputs} for their order) with attributes c. */
    FusedDecoderLayer(SameDiff sd, SDVariable[] inputs, LayerConfig c) {
        super(sd, inputs, c.tArgs());
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    protected int outputCount() {
        return 2;
    }

    LayerConfig config() {
        return LayerConfig.of(tArgs());
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> inputTypes) {
        DataType t = inputTypes.get(0);
        return List.of(t, LayerWorkspace.storageType(t));
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        LayerConfig c = config();
        DecoderLayerKernels.Inputs a = DecoderLayerKernels.Inputs.of(in, c);
        DataType t = a.type();
        return List.of(LongShapeDescriptor.fromShape(a.h().shape(), t), LongShapeDescriptor.fromShape(
                new long[]{DecoderLayerKernels.workspaceLength(a, c)}, LayerWorkspace.storageType(t)));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        LayerConfig c = config();
        DecoderLayerKernels.forward(DecoderLayerKernels.Inputs.of(in, c), c, out.get(0), out.get(1));
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        SDVariable[] outputs = outputVariables();
        SDVariable dOut = grads.get(0) != null ? grads.get(0) : sameDiff.zerosLike(outputs[0]);
        SDVariable[] in = args();
        List<SDVariable> bpInputs = new ArrayList<>(Arrays.asList(in));
        bpInputs.add(outputs[1]);
        bpInputs.add(dOut);
        LayerConfig c = config();
        SDVariable[] g = new FusedDecoderLayerBp(sameDiff, bpInputs.toArray(new SDVariable[0]), c).outputVariables();
        List<SDVariable> result = new ArrayList<>(Arrays.asList(g));
        if (c.layoutGradients()) {
            if (c.lora() || c.loraDropout() > 0) {
                throw new IllegalStateException(OP_NAME + ": zero layout gradients (DL4J vertices) are only built "
                        + "for layers without adapters");
            }
            for (int i = in.length - DecoderLayerKernels.Inputs.LAYOUT_INPUTS; i < in.length; i++) {
                result.add(sameDiff.zerosLike(in[i]));
            }
        }
        // Otherwise only the inputs that get gradients (h and the weights; with adapters h and the adapters), which
        // come first: SameDiff's DifferentialFunction.diff walks the returned list, so leaving the trailing frozen
        // weights, tables and layout out gives them no gradient ops at all (zerosLike + accumulating adds per layer)
        return result;
    }
}
