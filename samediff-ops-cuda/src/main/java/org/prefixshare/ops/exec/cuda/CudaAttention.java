package org.prefixshare.ops.exec.cuda;

import org.nd4j.jita.allocator.impl.AtomicAllocator;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.jcublas.context.CudaContext;
import org.prefixshare.ops.backend.AttentionDims;
import org.prefixshare.ops.nativeload.NativeArrays;


import static org.prefixshare.ops.nativeload.NativeArrays.cast;
import static org.prefixshare.ops.nativeload.NativeArrays.concat;
import static org.prefixshare.ops.nativeload.NativeArrays.copyBack;
import static org.prefixshare.ops.nativeload.NativeArrays.strides3;

/**
 * Runs the prefix-shared attention on ND4J CUDA arrays with the CUDA kernels, on ND4J's stream, with ND4J's
 * synchronisation bookkeeping (the cuBLAS pattern of nd4j-cuda: {@code FlowController.prepareAction} makes every
 * array current on the device and returns the context whose stream the work goes to; {@code getPointer(arr, ctx)}
 * gives device addresses; {@code registerAction} / {@code tickDeviceWrite} record that the outputs now live on the
 * device, so a later host read synchronises).
 * <p>lse: the kernels keep it in float32 for bf16 / fp16 inputs. When the op declares another type for it (the
 * op's contract: q's type), a float32 scratch is used and cast into it; the backward casts it back to float32.
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
        DataType lseType = lseType(dt);
        q = headContiguous(q);
        k = headContiguous(k);
        v = headContiguous(v);
        INDArray n = denseInt(node);
        INDArray se = denseInt(subtreeEnd);
        INDArray o = writable(out, dt, d.qShape(), false);
        INDArray l = writable(lse, lseType, d.lseShape(), true);

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
    }

    static void backward(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd, INDArray out,
                         INDArray lse, INDArray dOut, double scale, INDArray dq, INDArray dk, INDArray dv) {
        AttentionDims d = AttentionDims.of(q, k, v, node, subtreeEnd);
        AttentionDims.requireShape("out", out, d.qShape());
        AttentionDims.requireShape("dOut", dOut, d.qShape());
        AttentionDims.requireShape("lse", lse, d.lseShape());
        DataType dt = q.dataType();
        q = headContiguous(q);
        k = headContiguous(k);
        v = headContiguous(v);
        out = headContiguous(cast(out, dt));
        dOut = headContiguous(cast(dOut, dt));
        lse = denseC(cast(lse, lseType(dt)));
        INDArray n = denseInt(node);
        INDArray se = denseInt(subtreeEnd);
        INDArray gq = writable(dq, dt, d.qShape(), false);
        INDArray gk = writable(dk, dt, d.kvShape(), false);
        INDArray gv = writable(dv, dt, d.kvShape(), false);

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
    }

    /** float32 for the 16-bit types (what the kernels write), else the input type. */
    private static DataType lseType(DataType dt) {
        return dt == DataType.BFLOAT16 || dt == DataType.HALF ? DataType.FLOAT : dt;
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

    private static INDArray denseInt(INDArray a) {
        return denseC(cast(a, DataType.INT));
    }

    private static INDArray writable(INDArray target, DataType type, long[] shape, boolean needDense) {
        AttentionDims.requireShape("output", target, shape);
        boolean ok = target.dataType() == type && target.offset() == 0
                && (needDense ? isDenseC(target) : target.stride(target.rank() - 1) == 1);
        return ok ? target : Nd4j.createUninitialized(type, shape, 'c');
    }
}
