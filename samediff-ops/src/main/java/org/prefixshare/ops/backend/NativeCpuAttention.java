package org.prefixshare.ops.backend;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.nativeload.NativeKernels;
import org.prefixshare.ops.nativeload.NativeLibrary;


import static org.prefixshare.ops.nativeload.NativeArrays.address;
import static org.prefixshare.ops.nativeload.NativeArrays.cast;
import static org.prefixshare.ops.nativeload.NativeArrays.concat;
import static org.prefixshare.ops.nativeload.NativeArrays.copyBack;
import static org.prefixshare.ops.nativeload.NativeArrays.denseC;
import static org.prefixshare.ops.nativeload.NativeArrays.isDenseC;
import static org.prefixshare.ops.nativeload.NativeArrays.keepAlive;
import static org.prefixshare.ops.nativeload.NativeArrays.strides3;

/**
 * Runs the prefix-shared attention on ND4J arrays with the native CPU kernels. Arrays are passed by address with
 * their strides; only the head dimension must be contiguous (anything else is copied once). node and subtreeEnd are
 * converted to dense int32 (they are B x T, cheap). Outputs that are not writable in place are computed into a
 * scratch array and assigned.
 */
public final class NativeCpuAttention {

    private NativeCpuAttention() {
    }

    /** out = attention(q, k, v), lse = row log-sum-exp; out and lse are overwritten. */
    public static void forward(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd,
                               double scale, INDArray out, INDArray lse) {
        NativeLibrary.require();
        AttentionDims d = AttentionDims.of(q, k, v, node, subtreeEnd);
        int dtype = dtypeCode(q.dataType());
        q = headContiguous(q);
        k = headContiguous(k);
        v = headContiguous(v);
        INDArray n = denseInt(node);
        INDArray se = denseInt(subtreeEnd);
        INDArray o = writable(out, q.dataType(), d.qShape(), false);
        INDArray l = writable(lse, AttentionDims.lseType(q.dataType()), d.lseShape(), true);
        long[] strides = concat(strides3(q), strides3(k), strides3(v), strides3(o));
        NativeKernels.attentionForward(dtype, address(q), address(k), address(v), address(o), address(l),
                address(n), address(se), strides, d.batch(), d.seqlen(), d.headsQ(), d.headsKv(), d.headDim(),
                scale, NativeKernels.THREADS);
        keepAlive(q, k, v, n, se);
        copyBack(o, out);
        copyBack(l, lse);
    }

    /** dq, dk, dv from the forward's inputs, out, lse and dOut; the three gradients are overwritten. */
    public static void backward(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd,
                                INDArray out, INDArray lse, INDArray dOut, double scale,
                                INDArray dq, INDArray dk, INDArray dv) {
        NativeLibrary.require();
        AttentionDims d = AttentionDims.of(q, k, v, node, subtreeEnd);
        AttentionDims.requireShape("out", out, d.qShape());
        AttentionDims.requireShape("dOut", dOut, d.qShape());
        AttentionDims.requireShape("lse", lse, d.lseShape());
        int dtype = dtypeCode(q.dataType());
        DataType dt = q.dataType();
        q = headContiguous(q);
        k = headContiguous(k);
        v = headContiguous(v);
        out = headContiguous(cast(out, dt));
        dOut = headContiguous(cast(dOut, dt));
        lse = denseC(cast(lse, AttentionDims.lseType(dt)));
        INDArray n = denseInt(node);
        INDArray se = denseInt(subtreeEnd);
        INDArray gq = writable(dq, dt, d.qShape(), false);
        INDArray gk = writable(dk, dt, d.kvShape(), false);
        INDArray gv = writable(dv, dt, d.kvShape(), false);
        long[] strides = concat(strides3(q), strides3(k), strides3(v), strides3(out),
                strides3(dOut), strides3(gq), strides3(gk), strides3(gv));
        NativeKernels.attentionBackward(dtype, address(q), address(k), address(v), address(out), address(lse),
                address(n), address(se), address(dOut), address(gq), address(gk), address(gv), strides,
                d.batch(), d.seqlen(), d.headsQ(), d.headsKv(), d.headDim(), scale, NativeKernels.THREADS);
        keepAlive(q, k, v, out, lse, n, se, dOut);
        copyBack(gq, dq);
        copyBack(gk, dk);
        copyBack(gv, dv);
    }

    static int dtypeCode(DataType type) {
        return switch (type) {
            case FLOAT -> NativeKernels.FLOAT32;
            case DOUBLE -> NativeKernels.FLOAT64;
            default -> throw new IllegalArgumentException("prefix-shared attention runs in FLOAT or DOUBLE on CPU, "
                    + "got " + type + " (cast q, k, v first; half precision has no fast CPU path in ND4J)");
        };
    }

    private static boolean headContiguousLayout(INDArray a) {
        return a.stride(a.rank() - 1) == 1 || a.size(a.rank() - 1) == 1;
    }

    private static INDArray headContiguous(INDArray a) {
        return headContiguousLayout(a) ? a : a.dup('c');
    }

    private static INDArray denseInt(INDArray a) {
        return denseC(cast(a, DataType.INT));
    }

    /** The array itself when the kernel can write into it, else a scratch array to copy back from. */
    private static INDArray writable(INDArray target, DataType type, long[] shape, boolean needDense) {
        AttentionDims.requireShape("output", target, shape);
        boolean ok = target.dataType() == type && (needDense ? isDenseC(target) : headContiguousLayout(target));
        return ok ? target : Nd4j.createUninitialized(type, shape, 'c');
    }

}
