package org.prefixshare.ops.nativeload;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.lang.ref.Reference;
import java.util.Arrays;

/**
 * ND4J arrays handed to native kernels as raw addresses: the layout tests, casts and copies every kernel call of the
 * attention and fused ops (CPU and CUDA) makes before and after the call.
 */
public final class NativeArrays {

    private NativeArrays() {
    }

    /** a itself when it has this type, else a cast copy. */
    public static INDArray cast(INDArray a, DataType type) {
        return a.dataType() == type ? a : a.castTo(type);
    }

    /** Dense c-order: the stride of every dimension longer than 1 is the product of the later sizes. */
    public static boolean isDenseC(INDArray a) {
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /** a itself when {@link #isDenseC}, else a dense c-order copy. */
    public static INDArray denseC(INDArray a) {
        return isDenseC(a) ? a : a.dup('c');
    }

    /**
     * Assigns what a kernel wrote into a scratch array to its real target (nothing when they are the same). On the CUDA
     * backend the assign is an ND4J op on the kernel's stream, so it is ordered after the kernel.
     */
    public static void copyBack(INDArray computed, INDArray target) {
        if (computed != target) {
            target.assign(computed);
        }
    }

    /**
     * Keeps these arrays, and the native memory they own, reachable up to this point. Call it after a native call
     * that was handed their addresses: once an address is read the JIT may treat a copy made for the call (a cast, a
     * dense or head-contiguous dup) as dead, and a garbage collection during the call would let ND4J free the memory
     * the kernel is reading.
     */
    public static void keepAlive(Object... arrays) {
        Reference.reachabilityFence(arrays);
    }

    /** Host address of the first element (data().addressPointer() already points at a view's first element). */
    public static long address(INDArray a) {
        return a.data().addressPointer().address();
    }

    /** The (batch, row, head) strides of a rank-4 [B,T,H,D] array. */
    public static long[] strides3(INDArray a) {
        long[] s = a.stride();
        return new long[]{s[0], s[1], s[2]};
    }

    /** The arrays one after another. */
    public static long[] concat(long[]... parts) {
        return Arrays.stream(parts).flatMapToLong(Arrays::stream).toArray();
    }
}
