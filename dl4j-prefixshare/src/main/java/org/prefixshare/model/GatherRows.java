package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.imports.converters.ImportClassMapping;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.exec.JavaCustomOp;

import java.util.Arrays;
import java.util.List;

/**
 * {@code out[n] = table[index[n]]} for a table {@code [M,H]} and float-typed, integer-valued indices {@code [N]}:
 * the embedding lookup and the gather of the labelled hidden states. ND4J M2.1's own {@code gather} builds its
 * backward from a SameDiff while-loop per index (slow, and two gathers in one graph clash on the loop's name), so
 * this op's backward is {@link GatherRowsBp}, one scatter-add. The index carries no
 * gradient (zeros: a float path, as DL4J vertices need).
 */
public class GatherRows extends JavaCustomOp {

    public static final String OP_NAME = "prefixshare_gather_rows";

    /** For ND4J's reflection (graph cloning, loading). */
    public GatherRows() {
    }

    public GatherRows(SameDiff sd, SDVariable table, SDVariable index) {
        super(sd, new SDVariable[]{table, index});
    }

    /** Registers both ops with ND4J (gradient graphs clone every op by name). Idempotent. */
    static void register() {
        PrefixShareOps.init();
        ImportClassMapping.getOpNameMapping().putIfAbsent(OP_NAME, new GatherRows());
        ImportClassMapping.getOpNameMapping().putIfAbsent(GatherRowsBp.OP_NAME, new GatherRowsBp());
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public List<LongShapeDescriptor> outputShapes(List<INDArray> in) {
        INDArray table = in.get(0);
        if (table.rank() != 2) {
            throw new IllegalArgumentException(OP_NAME + ": table must be [M,H], got " + table.shapeInfoToString());
        }
        return List.of(LongShapeDescriptor.fromShape(new long[]{in.get(1).length(), table.size(1)},
                table.dataType()));
    }

    @Override
    public void execute(List<INDArray> in, List<INDArray> out) {
        INDArray table = in.get(0);
        int[] idx = indices(in.get(1), table.size(0));
        if (idx.length > 0) {
            out.get(0).assign(Nd4j.pullRows(table, 1, idx));
        }
    }

    /** Integer row indices from a float-typed index vector, range-checked. */
    static int[] indices(INDArray index, long rows) {
        int[] idx = index.reshape(index.length()).toIntVector();
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] < 0 || idx[i] >= rows) {
                throw new IllegalArgumentException(OP_NAME + ": index " + idx[i] + " at " + i + " outside [0, " + rows
                        + ")");
            }
        }
        return idx;
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> grads) {
        SDVariable[] in = args();
        SDVariable dTable = new GatherRowsBp(sameDiff, in[0], in[1], grads.get(0)).outputVariable();
        // a float index (DL4J vertices) needs a zero gradient path; an integer one (DecoderModel's feeds) none at all
        return in[1].dataType().isFPType() ? Arrays.asList(dTable, sameDiff.zerosLike(in[1])) : List.of(dTable);
    }
}
