package org.prefixshare.ops.backend;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * Sizes of one attention call, validated from its arrays: q {@code [B,T,Hq,D]}, k and v {@code [B,T,Hkv,D]},
 * node and subtreeEnd {@code [B,T]}.
 */
public record AttentionDims(int batch, int seqlen, int headsQ, int headsKv, int headDim) {

    public static final int MAX_HEAD_DIM = 256;

    public AttentionDims {
        if (batch <= 0 || seqlen <= 0 || headsQ <= 0 || headsKv <= 0 || headDim <= 0) {
            throw new IllegalArgumentException("attention sizes must be positive, got " + this);
        }
        if (headsQ % headsKv != 0) {
            throw new IllegalArgumentException("heads of q (" + headsQ + ") must be a multiple of heads of k/v ("
                    + headsKv + ")");
        }
        if (headDim > MAX_HEAD_DIM) {
            throw new IllegalArgumentException("head dim " + headDim + " exceeds " + MAX_HEAD_DIM);
        }
    }

    /** Reads and checks the sizes of q, k, v, node, subtreeEnd. */
    public static AttentionDims of(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd) {
        requireRank("q", q, 4);
        requireRank("k", k, 4);
        requireRank("v", v, 4);
        requireRank("node", node, 2);
        requireRank("subtreeEnd", subtreeEnd, 2);
        long[] qs = q.shape();
        AttentionDims dims = new AttentionDims((int) qs[0], (int) qs[1], (int) qs[2], (int) k.size(2), (int) qs[3]);
        long[] kvShape = {dims.batch, dims.seqlen, dims.headsKv, dims.headDim};
        requireShape("k", k, kvShape);
        requireShape("v", v, kvShape);
        requireShape("node", node, new long[]{dims.batch, dims.seqlen});
        requireShape("subtreeEnd", subtreeEnd, new long[]{dims.batch, dims.seqlen});
        if (q.dataType() != k.dataType() || q.dataType() != v.dataType()) {
            throw new IllegalArgumentException("q, k and v must share one data type, got " + q.dataType() + ", "
                    + k.dataType() + ", " + v.dataType());
        }
        return dims;
    }

    /** Shape of q and out. */
    public long[] qShape() {
        return new long[]{batch, seqlen, headsQ, headDim};
    }

    /** Shape of k and v. */
    public long[] kvShape() {
        return new long[]{batch, seqlen, headsKv, headDim};
    }

    /** Shape of the row log-sum-exp. */
    public long[] lseShape() {
        return new long[]{batch, headsQ, seqlen};
    }

    /**
     * Type of the row log-sum-exp for inputs of type {@code qType}: DOUBLE for DOUBLE inputs, FLOAT for every other
     * type. The backward computes {@code exp(s - lse)}, so a 16-bit lse (bf16 keeps 8 significant bits: +-0.03 at
     * |lse| 8..16) would put ~3% errors into every probability; the kernels keep it in float32.
     */
    public static DataType lseType(DataType qType) {
        return qType == DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
    }

    static void requireRank(String name, INDArray a, int rank) {
        if (a == null) {
            throw new IllegalArgumentException(name + " is missing");
        }
        if (a.rank() != rank) {
            throw new IllegalArgumentException(name + " must have rank " + rank + ", got shape "
                    + Arrays.toString(a.shape()));
        }
    }

    /** Throws an IllegalArgumentException naming {@code name} unless a has exactly this shape. */
    public static void requireShape(String name, INDArray a, long[] shape) {
        if (!Arrays.equals(a.shape(), shape)) {
            throw new IllegalArgumentException(name + " must have shape " + Arrays.toString(shape) + ", got "
                    + Arrays.toString(a.shape()));
        }
    }
}
