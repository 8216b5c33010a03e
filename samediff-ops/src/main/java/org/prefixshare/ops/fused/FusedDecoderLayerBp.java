package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaBackwardOp;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Backward op of {@link FusedDecoderLayer}: inputs are the forward's inputs, its saved activations and the output's
 * gradient; outputs the gradients of h and of every weight (then the biases), in input order. Not differentiable
 * itself.
 */
public class FusedDecoderLayerBp extends JavaBackwardOp {

    public static final String OP_NAME = "prefixshare_decoder_layer_bp";

    /** For ND4J's reflection (graph loading). */
    public FusedDecoderLayerBp() {
    }

    FusedDecoderLayerBp(SameDiff sd, SDVariable[] inputs, LayerConfig c) {
        super(sd, inputs, c.tArgs());
    }

    private LayerConfig config() {
        return LayerConfig.of(tArgs());
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    /** Forward inputs: all but the trailing workspace and gradient. */
    private static List<INDArray> forwardInputs(List<INDArray> in) {
        return in.subList(0, in.size() - 2);
    }

    /**
     * Gradients this op outputs for {@code inputs} inputs: h and, with adapters, A and B of each adapted projection,
     * else the 9 weights and the 3 biases when present (the forward's inputs less the workspace and gradient, the
     * layout inputs and the dropout seed, and with adapters the frozen weights).
     */
    private int gradientCount(int inputs) {
        LayerConfig c = config();
        int forward = inputs - 2 - DecoderLayerKernels.Inputs.LAYOUT_INPUTS - (c.loraDropout() > 0 ? 1 : 0);
        return c.lora() ? 1 + 2 * Integer.bitCount(c.loraMask()) : forward;
    }

    @Override
    protected int outputCount() {
        return gradientCount(args().length);
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> inputTypes) {
        return new ArrayList<>(Collections.nCopies(gradientCount(inputTypes.size()), inputTypes.get(0)));
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        List<INDArray> forward = forwardInputs(in);
        LayerConfig c = config();
        DecoderLayerKernels.Inputs a = DecoderLayerKernels.Inputs.of(forward, c);
        List<LongShapeDescriptor> shapes = new ArrayList<>();
        for (int i = 0; i < a.differentiable(c); i++) {
            shapes.add(LongShapeDescriptor.fromShape(forward.get(i).shape(), a.type()));
        }
        return shapes;
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        LayerConfig c = config();
        DecoderLayerKernels.backward(DecoderLayerKernels.Inputs.of(forwardInputs(in), c), c, in.get(in.size() - 2),
                in.get(in.size() - 1), out);
    }

    @Override
    protected String forwardName() {
        return FusedDecoderLayer.OP_NAME;
    }
}
