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

    public FusedDecoderLayerBp(SameDiff sd, SDVariable[] inputs, double eps, double scale) {
        super(sd, inputs, eps, scale);
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
     * Gradients this op outputs for {@code inputs} inputs: h and the 9 weights, plus 3 biases when present, i.e. the
     * forward's inputs (all but the trailing workspace and gradient) less the 4 layout inputs.
     */
    private static int gradientCount(int inputs) {
        return inputs - 2 - DecoderLayerKernels.Inputs.LAYOUT_INPUTS;
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
        DecoderLayerKernels.Inputs a = DecoderLayerKernels.Inputs.of(forward);
        List<LongShapeDescriptor> shapes = new ArrayList<>();
        for (int i = 0; i < a.differentiable(); i++) {
            shapes.add(LongShapeDescriptor.fromShape(forward.get(i).shape(), a.type()));
        }
        return shapes;
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        DecoderLayerKernels.backward(DecoderLayerKernels.Inputs.of(forwardInputs(in)), tArgs()[0], tArgs()[1],
                in.get(in.size() - 2), in.get(in.size() - 1), out);
    }

    @Override
    protected String forwardName() {
        return FusedDecoderLayer.OP_NAME;
    }
}
