package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.segment.UnsortedSegmentSum;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.exec.JavaBackwardOp;

import java.util.List;

/**
 * Backward of {@link GatherRows}: (table, index, dOut) to {@code dTable[m] = sum over n with index[n] = m of
 * dOut[n]} (a scatter-add, run as ND4J's native {@code unsorted_segment_sum}). Not differentiable itself.
 */
public class GatherRowsBp extends JavaBackwardOp {

    public static final String OP_NAME = "prefixshare_gather_rows_bp";

    /** For ND4J's reflection. */
    public GatherRowsBp() {
    }

    public GatherRowsBp(SameDiff sd, SDVariable table, SDVariable index, SDVariable dOut) {
        super(sd, new SDVariable[]{table, index, dOut});
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    protected int outputCount() {
        return 1;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        return List.of(LongShapeDescriptor.fromShape(in.get(0).shape(), in.get(0).dataType()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        INDArray table = in.get(0);
        INDArray dOut = in.get(2);
        INDArray dTable = out.get(0);
        int[] idx = GatherRows.indices(in.get(1), table.size(0));
        if (idx.length == 0) {
            dTable.assign(0);
            return;
        }
        UnsortedSegmentSum op = new UnsortedSegmentSum(dOut.reshape(idx.length, table.size(1)),
                Nd4j.createFromArray(idx).castTo(DataType.INT32), (int) table.size(0));
        op.addOutputArgument(dTable);
        Nd4j.exec(op);
    }

    @Override
    protected String forwardName() {
        return GatherRows.OP_NAME;
    }
}
