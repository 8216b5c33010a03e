package org.prefixshare.ops.fused;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Where a recomputing {@link FusedDecoderLayer} keeps the activations it does not save: one workspace (and one layer
 * output) per thread, grown to the largest layer seen and reused by every layer and step. A 7B-class layer's
 * activations are ~170 KB a token; saved for every layer they grow with the depth, recomputed they are one layer's.
 */
final class RecomputeBuffers {

    private static final ThreadLocal<RecomputeBuffers> LOCAL = ThreadLocal.withInitial(RecomputeBuffers::new);

    private INDArray workspace;
    private INDArray out;

    private RecomputeBuffers() {
    }

    /** A layer's workspace and output arrays on this thread. */
    record Views(INDArray workspace, INDArray out) {
    }

    /** This thread's buffers sized for the layer {@code a}; earlier views of them become invalid. */
    static Views of(DecoderLayerKernels.Inputs a) {
        LayerWorkspace lw = a.workspace();
        DataType dt = a.type();
        RecomputeBuffers b = LOCAL.get();
        DataType st = LayerWorkspace.storageType(dt);
        if (b.workspace == null || b.workspace.dataType() != st || b.workspace.length() < lw.length()) {
            b.workspace = Nd4j.createUninitializedDetached(st, lw.length());
        }
        long outLength = a.h().length();
        if (b.out == null || b.out.dataType() != dt || b.out.length() < outLength) {
            b.out = Nd4j.createUninitializedDetached(dt, outLength);
        }
        INDArray ws = b.workspace.length() == lw.length() ? b.workspace
                : Nd4j.create(b.workspace.data(), new long[]{lw.length()}, new long[]{1}, 0, 'c');
        long[] shape = a.h().shape();
        INDArray o = Nd4j.create(b.out.data(), shape, Nd4j.getStrides(shape, 'c'), 0, 'c');
        return new Views(ws, o);
    }
}
