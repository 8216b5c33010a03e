package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
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

    /**
     * {@code dTable[idx[i]] += dOut[i]} for every i, in index order (deterministic; repeated indices add up). Written
     * out rather than ND4J's {@code unsorted_segment_sum}, which in 1.0.0-M2.1 leaks native memory the size of its
     * input on every call (~3 MB a training step of the bench model, without end), and {@code scatter_add}, which
     * loses updates to repeated rows when it runs on more than one thread.
     */
    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        INDArray table = in.get(0);
        INDArray dTable = out.get(0);
        int[] idx = GatherRows.indices(in.get(1), table.size(0));
        long rows = table.size(0);
        int width = (int) table.size(1);
        if (rows * width > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(OP_NAME + ": table " + rows + " x " + width + " is too large");
        }
        double[] sum = new double[(int) rows * width];
        if (idx.length > 0) {
            double[] g = in.get(2).reshape((long) idx.length * width).toDoubleVector();
            for (int i = 0; i < idx.length; i++) {
                int to = idx[i] * width;
                int from = i * width;
                for (int c = 0; c < width; c++) {
                    sum[to + c] += g[from + c];
                }
            }
        }
        dTable.assign(Nd4j.createFromArray(sum).reshape(rows, width));
    }

    @Override
    protected String forwardName() {
        return GatherRows.OP_NAME;
    }
}
