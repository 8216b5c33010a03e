package org.prefixshare.ops.fused;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The activations one {@link FusedDecoderLayer} saves for its backward op, as blocks of one flat array
 * ({@link Block}). RMSNorm outputs and the SwiGLU product are recomputed in the backward (row-wise, cheap) rather
 * than stored.
 *
 * <p>The array's element type is an integer of the model type's width (INT32 for FLOAT, INT64 for DOUBLE) and the
 * blocks are float views of its memory. Why: when SameDiff differentiates an op it passes a gradient for every
 * output, and for a floating-point output that nothing downstream differentiates it materialises a {@code zerosLike}
 * (here megabytes, zero-filled and first-touched on every step); for a non-floating-point output it passes null.
 *
 * @param rows    tokens M = R*T
 * @param batch   rows of the layout R
 * @param seqlen  row length T
 * @param hidden  H
 * @param headsQ  query heads
 * @param headsKv key/value heads
 * @param headDim D
 * @param inter   MLP width I
 */
record LayerWorkspace(long rows, long batch, long seqlen, long hidden, long headsQ, long headsKv, long headDim,
                      long inter) {

    /** The saved blocks, in storage order. */
    enum Block {
        /** roped queries, M x Hq*D. */
        QUERIES,
        /** roped keys, M x Hkv*D. */
        KEYS,
        /** values, M x Hkv*D. */
        VALUES,
        /** attention output, M x Hq*D. */
        ATTENTION,
        /** residual stream after attention, M x H. */
        RESIDUAL,
        /** MLP gate projection, M x I. */
        GATE,
        /** MLP up projection, M x I. */
        UP,
        /** attention row log-sum-exp, R x Hq x T. */
        LSE
    }

    private long width(Block b) {
        return switch (b) {
            case QUERIES, ATTENTION -> headsQ * headDim;
            case KEYS, VALUES -> headsKv * headDim;
            case RESIDUAL -> hidden;
            case GATE, UP -> inter;
            case LSE -> headsQ;
        };
    }

    private long heads(Block b) {
        return switch (b) {
            case QUERIES, ATTENTION -> headsQ;
            case KEYS, VALUES -> headsKv;
            default -> throw new IllegalArgumentException(b + " has no heads");
        };
    }

    private long offset(Block b) {
        long at = 0;
        for (Block p : Block.values()) {
            if (p == b) {
                return at;
            }
            at += rows * width(p);
        }
        throw new AssertionError(b);
    }

    /** Elements of the whole workspace. */
    long length() {
        return offset(Block.LSE) + rows * width(Block.LSE);
    }

    /** The integer type that stores elements of {@code modelType}. */
    static DataType storageType(DataType modelType) {
        return modelType == DataType.DOUBLE ? DataType.INT64 : DataType.INT32;
    }

    /** Float views of a workspace array's blocks; valid while the array lives (use them inside one execution). */
    Views views(INDArray storage, DataType modelType) {
        if (storage.length() != length() || storage.dataType() != storageType(modelType)) {
            throw new IllegalArgumentException("decoder layer workspace: expected " + length() + " elements of "
                    + storageType(modelType) + ", got " + storage.length() + " of " + storage.dataType());
        }
        return new Views(Nd4j.createBuffer(storage.data().addressPointer(), length(), modelType));
    }

    /** Dense c-order views of the blocks. */
    final class Views {
        private final DataBuffer buffer;

        private Views(DataBuffer buffer) {
            this.buffer = buffer;
        }

        /** A block as {@code [M, width]} (LSE: {@code [R,Hq,T]}). */
        INDArray rows(Block b) {
            return b == Block.LSE ? view(offset(b), batch, headsQ, seqlen) : view(offset(b), rows, width(b));
        }

        /** A query/key/value/attention block as {@code [R,T,heads,D]}. */
        INDArray heads(Block b) {
            return view(offset(b), batch, seqlen, LayerWorkspace.this.heads(b), headDim);
        }

        private INDArray view(long offset, long... shape) {
            return Nd4j.create(buffer, shape, Nd4j.getStrides(shape, 'c'), offset, 'c');
        }
    }
}
