package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.exec.JavaBackwardOp;
import org.prefixshare.ops.fused.FusedOps;
import org.prefixshare.ops.nativeload.NativeKernels;

import java.util.List;

import static org.prefixshare.ops.nativeload.NativeArrays.address;
import static org.prefixshare.ops.nativeload.NativeArrays.cast;
import static org.prefixshare.ops.nativeload.NativeArrays.denseC;
import static org.prefixshare.ops.nativeload.NativeArrays.isDenseC;
import static org.prefixshare.ops.nativeload.NativeArrays.keepAlive;

/**
 * Backward of {@link GatherRows}: (table, index, dOut) to {@code dTable[m] = sum over n with index[n] = m of
 * dOut[n]} (a scatter-add). Not differentiable itself.
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
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        return List.of(LongShapeDescriptor.fromShape(in.get(0).shape(), in.get(0).dataType()));
    }

    /**
     * {@code dTable[idx[i]] += dOut[i]} for every i, in index order, accumulated in double (deterministic; repeated
     * indices add up): the native kernel ({@link NativeKernels#scatterAddRows}) where the fused CPU kernels run, else
     * the same sum written out in Java. Not ND4J's {@code unsorted_segment_sum}, which in 1.0.0-M2.1 leaks native
     * memory the size of its input on every call (~3 MB a training step of the bench model, without end), nor
     * {@code scatter_add}, which loses updates to repeated rows when it runs on more than one thread. The Java sum
     * took ~4-5 ms a call on the bench model's steps (two calls a step: the embedding and the labelled rows).
     */
    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        INDArray table = in.get(0);
        INDArray dTable = out.get(0);
        int[] idx = GatherRows.indices(in.get(1), table.size(0));
        long rows = table.size(0);
        int width = (int) table.size(1);
        if (nativeScatter(idx, in.get(2), dTable)) {
            return;
        }
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

    /** The scatter in the native kernel; false (nothing done) where the fused kernels do not run. */
    private static boolean nativeScatter(int[] idx, INDArray dOut, INDArray dTable) {
        DataType t = dTable.dataType();
        if ((t != DataType.FLOAT && t != DataType.DOUBLE) || !isDenseC(dTable) || !FusedOps.enabled()) {
            return false;
        }
        INDArray src = idx.length == 0 ? null : denseC(cast(dOut, t));
        INDArray index = idx.length == 0 ? null : Nd4j.createFromArray(idx);
        NativeKernels.scatterAddRows(NativeKernels.dtypeCode(t), index == null ? 0 : address(index), idx.length,
                src == null ? 0 : address(src), address(dTable), dTable.size(0), dTable.size(1),
                NativeKernels.THREADS);
        keepAlive(index, src);
        return true;
    }

    @Override
    protected String forwardName() {
        return GatherRows.OP_NAME;
    }
}
