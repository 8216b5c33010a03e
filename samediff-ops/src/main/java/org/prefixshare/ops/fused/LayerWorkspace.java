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

    /**
     * Element 0 of the array records where the blocks start: {@link #place} puts them at the first 64-byte boundary
     * after it, and the backward's {@link #views} reads the start back rather than recomputing it. ND4J's arrays are
     * only 16-byte aligned (this array sat 16 bytes past a boundary in all 14 forward calls of a bench profile), and
     * the kernels' AVX loads split cache lines on rows that start between two: a 2400 x 256 x 704 matrix product
     * (ps_gemm_cpu, one thread) ran 3-7% slower 16-48 bytes off a boundary, SwiGLU 4%.
     */
    private static final long HEADER = 1;
    /**
     * Elements (of 4 or 8 bytes) reserved after the header to reach a 64-byte boundary; every block's size is rounded
     * up to a multiple of it, so each block starts on a boundary.
     */
    private static final long SLACK = 16;
    private static final long CACHE_LINE = 64;

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
            at += (rows * width(p) + SLACK - 1) / SLACK * SLACK; // the next block on a boundary too
        }
        throw new AssertionError(b);
    }

    /** Elements of the whole workspace: the header, the slack and the blocks. */
    long length() {
        return HEADER + SLACK + offset(Block.LSE) + rows * width(Block.LSE);
    }

    /** The integer type that stores elements of {@code modelType}. */
    static DataType storageType(DataType modelType) {
        return modelType == DataType.DOUBLE ? DataType.INT64 : DataType.INT32;
    }

    /**
     * The forward's float views of a fresh workspace array: the blocks start at the first 64-byte boundary after the
     * header, which records that start. Valid while the array lives (use them inside one execution).
     */
    Views place(INDArray storage, DataType modelType) {
        check(storage, modelType);
        long address = storage.data().addressPointer().address();
        long start = HEADER;
        while (start < HEADER + SLACK && (address + start * modelType.width()) % CACHE_LINE != 0) {
            start++;
        }
        if (start == HEADER + SLACK) {
            start = HEADER; // an array not aligned to its element size: no boundary to reach, any start works
        }
        storage.putScalar(0, (int) start);
        return new Views(buffer(storage, modelType), start);
    }

    /** The backward's float views of a workspace array that {@link #place} filled. */
    Views views(INDArray storage, DataType modelType) {
        check(storage, modelType);
        long start = storage.getLong(0);
        if (start < HEADER || start >= HEADER + SLACK) {
            throw new IllegalStateException("decoder layer workspace: header says the blocks start at element " + start
                    + ", outside [" + HEADER + ", " + (HEADER + SLACK) + "): not an array the forward op filled");
        }
        return new Views(buffer(storage, modelType), start);
    }

    private void check(INDArray storage, DataType modelType) {
        if (storage.length() != length() || storage.dataType() != storageType(modelType)) {
            throw new IllegalArgumentException("decoder layer workspace: expected " + length() + " elements of "
                    + storageType(modelType) + ", got " + storage.length() + " of " + storage.dataType());
        }
    }

    private DataBuffer buffer(INDArray storage, DataType modelType) {
        return Nd4j.createBuffer(storage.data().addressPointer(), length(), modelType);
    }

    /** Dense c-order views of the blocks. */
    final class Views {
        private final DataBuffer buffer;
        private final long start;

        private Views(DataBuffer buffer, long start) {
            this.buffer = buffer;
            this.start = start;
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
            return Nd4j.create(buffer, shape, Nd4j.getStrides(shape, 'c'), start + offset, 'c');
        }
    }
}
