package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.List;

/**
 * A scalar exact zero of a floating-point type that depends on an array of any type without reading it, and passes no
 * gradient back. Use: inside a DL4J {@code SameDiffVertex} every output left unconsumed is taken as a loss, so an
 * output that only feeds a backward op (the {@link FusedDecoderLayer}'s integer-typed saved activations) is consumed
 * by adding this zero to the vertex output. Build it with {@link FusedOps#zeroOf}.
 */
public class ZeroOf extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_zero_of";

    /** For ND4J's reflection (graph loading). */
    public ZeroOf() {
    }

    public ZeroOf(SameDiff sd, SDVariable x, DataType type) {
        super(sd, new SDVariable[]{x}, type == DataType.DOUBLE ? 1 : 0);
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    private DataType type() {
        return tArgs()[0] == 1 ? DataType.DOUBLE : DataType.FLOAT;
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> inputTypes) {
        return List.of(type());
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        return List.of(LongShapeDescriptor.fromShape(new long[0], type()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        out.get(0).assign(0);
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        // no gradient to x: SameDiff's DifferentialFunction.diff walks the returned list only
        return List.of();
    }
}
