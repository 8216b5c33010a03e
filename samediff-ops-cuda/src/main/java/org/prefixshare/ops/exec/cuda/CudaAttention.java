package org.prefixshare.ops.exec.cuda;

import org.nd4j.jita.allocator.impl.AtomicAllocator;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.jcublas.context.CudaContext;
import org.prefixshare.ops.backend.AttentionDims;
import org.prefixshare.ops.nativeload.NativeArrays;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.prefixshare.ops.nativeload.NativeArrays.cast;
import static org.prefixshare.ops.nativeload.NativeArrays.concat;
import static org.prefixshare.ops.nativeload.NativeArrays.copyBack;
import static org.prefixshare.ops.nativeload.NativeArrays.keepAlive;
import static org.prefixshare.ops.nativeload.NativeArrays.strides3;

/**
 * Runs the prefix-shared attention on ND4J CUDA arrays with the CUDA kernels, on ND4J's stream, with ND4J's
 * synchronisation bookkeeping (the cuBLAS pattern of nd4j-cuda: {@code FlowController.prepareAction} makes every
 * array current on the device and returns the context whose stream the work goes to; {@code getPointer(arr, ctx)}
 * gives device addresses; {@code registerAction} / {@code tickDeviceWrite} record that the outputs now live on the
 * device, so a later host read synchronises).
 * <p>lse is float32 (the op declares {@link AttentionDims#lseType}: FLOAT for FLOAT, BFLOAT16 and HALF inputs), which
 * is what the kernels write and read; an lse array of another type is cast through a float32 scratch.
 * <p>Lifetime: the kernels and the copy-backs run asynchronously on ND4J's stream after these methods return. Every
 * array made here (a dup for layout, a cast, a scratch output) is held in a {@link Temporaries} list, and when there
 * is one, the stream is synchronised before the list is released: a garbage collection could otherwise let ND4J free
 * (and reuse) device memory a queued kernel has not read yet. Calls that need no temporary do not synchronise.
 */
final class CudaAttention {

    private CudaAttention() {
    }

    /** Whether the CUDA kernels handle this call (dtype and head dim); otherwise the host path runs it. */
    static boolean supports(INDArray q) {
        if (q == null || q.rank() != 4) {
            return false;
        }
        long d = q.size(3);
        return (d == 64 || d == 128) && dtypeCode(q.dataType()) >= 0 && CudaKernels.available();
    }

    static int dtypeCode(DataType t) {
        return switch (t) {
            case FLOAT -> CudaKernels.FLOAT32;
            case BFLOAT16 -> CudaKernels.BFLOAT16;
            case HALF -> CudaKernels.FLOAT16;
            default -> -1;
        };
    }

    static void forward(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd, double scale,
                        INDArray out, INDArray lse) {
        AttentionDims d = AttentionDims.of(q, k, v, node, subtreeEnd);
        DataType dt = q.dataType();
        Temporaries tmp = new Temporaries(q, k, v, node, subtreeEnd, out, lse);
        q = tmp.keep(headContiguous(q));
        k = tmp.keep(headContiguous(k));
        v = tmp.keep(headContiguous(v));
        INDArray n = tmp.keep(denseInt(node, tmp));
        INDArray se = tmp.keep(denseInt(subtreeEnd, tmp));
        INDArray o = tmp.keep(writable(out, dt, d.qShape(), false));
        INDArray l = tmp.keep(writable(lse, AttentionDims.lseType(dt), d.lseShape(), true));

        AtomicAllocator alloc = AtomicAllocator.getInstance();
        CudaContext ctx = alloc.getFlowController().prepareAction(o, q, k, v, n, se, l);
        long stream = ctx.getOldStream().address();
        long[] strides = concat(strides3(q), strides3(k), strides3(v), strides3(o));
        CudaKernels.attentionForward(dtypeCode(dt), dev(alloc, q, ctx), dev(alloc, k, ctx), dev(alloc, v, ctx),
                dev(alloc, o, ctx), dev(alloc, l, ctx), dev(alloc, n, ctx), dev(alloc, se, ctx), strides,
                d.batch(), d.seqlen(), d.headsQ(), d.headsKv(), d.headDim(), scale, stream);
        alloc.getFlowController().registerAction(ctx, o, q, k, v, n, se);
        alloc.tickDeviceWrite(l);
        copyBack(o, out);
        copyBack(l, lse);
        tmp.releaseAfter(ctx);
    }

    static void backward(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd, INDArray out,
                         INDArray lse, INDArray dOut, double scale, INDArray dq, INDArray dk, INDArray dv) {
        AttentionDims d = AttentionDims.of(q, k, v, node, subtreeEnd);
        AttentionDims.requireShape("out", out, d.qShape());
        AttentionDims.requireShape("dOut", dOut, d.qShape());
        AttentionDims.requireShape("lse", lse, d.lseShape());
        DataType dt = q.dataType();
        Temporaries tmp = new Temporaries(q, k, v, node, subtreeEnd, out, lse, dOut, dq, dk, dv);
        q = tmp.keep(headContiguous(q));
        k = tmp.keep(headContiguous(k));
        v = tmp.keep(headContiguous(v));
        out = tmp.keep(headContiguous(tmp.keep(cast(out, dt))));
        dOut = tmp.keep(headContiguous(tmp.keep(cast(dOut, dt))));
        lse = tmp.keep(denseC(tmp.keep(cast(lse, AttentionDims.lseType(dt)))));
        INDArray n = tmp.keep(denseInt(node, tmp));
        INDArray se = tmp.keep(denseInt(subtreeEnd, tmp));
        INDArray gq = tmp.keep(writable(dq, dt, d.qShape(), false));
        INDArray gk = tmp.keep(writable(dk, dt, d.kvShape(), false));
        INDArray gv = tmp.keep(writable(dv, dt, d.kvShape(), false));

        AtomicAllocator alloc = AtomicAllocator.getInstance();
        CudaContext ctx = alloc.getFlowController().prepareAction(gq, q, k, v, out, lse, n, se, dOut, gk, gv);
        long stream = ctx.getOldStream().address();
        long[] strides = concat(strides3(q), strides3(k), strides3(v), strides3(out), strides3(dOut),
                strides3(gq), strides3(gk), strides3(gv));
        CudaKernels.attentionBackward(dtypeCode(dt), dev(alloc, q, ctx), dev(alloc, k, ctx), dev(alloc, v, ctx),
                dev(alloc, out, ctx), dev(alloc, lse, ctx), dev(alloc, n, ctx), dev(alloc, se, ctx),
                dev(alloc, dOut, ctx), dev(alloc, gq, ctx), dev(alloc, gk, ctx), dev(alloc, gv, ctx), strides,
                d.batch(), d.seqlen(), d.headsQ(), d.headsKv(), d.headDim(), scale, stream);
        alloc.getFlowController().registerAction(ctx, gq, q, k, v, out, lse, n, se, dOut);
        alloc.tickDeviceWrite(gk);
        alloc.tickDeviceWrite(gv);
        copyBack(gq, dq);
        copyBack(gk, dk);
        copyBack(gv, dv);
        tmp.releaseAfter(ctx);
    }

    private static long dev(AtomicAllocator alloc, INDArray a, CudaContext ctx) {
        return alloc.getPointer(a, ctx).address();
    }

    /** Head dim contiguous and no view offset (device addresses are taken from the buffer start). */
    private static INDArray headContiguous(INDArray a) {
        boolean ok = (a.stride(a.rank() - 1) == 1 || a.size(a.rank() - 1) == 1) && a.offset() == 0;
        return ok ? a : a.dup('c');
    }

    /** Dense c-order and no view offset (device addresses are taken from the buffer start). */
    private static boolean isDenseC(INDArray a) {
        return a.offset() == 0 && NativeArrays.isDenseC(a);
    }

    private static INDArray denseC(INDArray a) {
        return isDenseC(a) ? a : a.dup('c');
    }

    /** Dense c-order int32 (a cast and then a copy are both kept: the copy is an asynchronous op reading the cast). */
    private static INDArray denseInt(INDArray a, Temporaries tmp) {
        return denseC(tmp.keep(cast(a, DataType.INT)));
    }

    private static INDArray writable(INDArray target, DataType type, long[] shape, boolean needDense) {
        AttentionDims.requireShape("output", target, shape);
        boolean ok = target.dataType() == type && target.offset() == 0
                && (needDense ? isDenseC(target) : target.stride(target.rank() - 1) == 1);
        return ok ? target : Nd4j.createUninitialized(type, shape, 'c');
    }

    /**
     * The arrays of one kernel call: the caller's, and those the call made for the kernels (layout copies, casts,
     * scratch outputs). {@link #releaseAfter} keeps all of them reachable up to its end and, when the call made any,
     * first waits for the stream, whose queued kernels and copy-backs read them.
     */
    static final class Temporaries {
        private final List<INDArray> callers;
        private final List<INDArray> made = new ArrayList<>();

        Temporaries(INDArray... callers) {
            this.callers = Arrays.asList(callers);
        }

        /** Returns a, remembering it when it is neither a caller's array nor already kept (compared by identity). */
        INDArray keep(INDArray a) {
            if (!containsSame(callers, a) && !containsSame(made, a)) {
                made.add(a);
            }
            return a;
        }

        /** Synchronises the stream when the call made arrays, then releases them (and the callers' arrays). */
        void releaseAfter(CudaContext ctx) {
            if (!made.isEmpty()) {
                ctx.syncOldStream();
            }
            keepAlive(callers, made);
        }

        /** INDArray.equals compares contents: look arrays up by identity. */
        private static boolean containsSame(List<INDArray> arrays, INDArray a) {
            for (INDArray x : arrays) {
                if (x == a) {
                    return true;
                }
            }
            return false;
        }
    }
}
