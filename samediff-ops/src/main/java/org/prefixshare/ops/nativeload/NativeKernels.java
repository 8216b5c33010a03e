package org.prefixshare.ops.nativeload;

/**
 * The JNI entry points of {@code libprefixshare.so} (see {@code native/src/jni}). Pointers are raw addresses of the
 * first element; strides are in elements. Call only after {@link NativeLibrary#isAvailable()} is true; argument
 * errors come back as {@link IllegalArgumentException} with the native message.
 */
public final class NativeKernels {

    /** Element type codes of {@code ps_dtype}. */
    public static final int FLOAT32 = 0;
    public static final int FLOAT64 = 1;

    /** Capability flags of {@code ps_capabilities()}. */
    public static final int CAP_CPU_FLOAT32 = 1;
    public static final int CAP_CPU_FLOAT64 = 1 << 1;
    public static final int CAP_CPU_AVX2 = 1 << 2;
    public static final int CAP_OPENMP = 1 << 3;
    public static final int CAP_CUDA = 1 << 4;

    /**
     * Threads of one kernel call: {@code -Dprefixshare.threads=N}, or 0 (default) for OpenMP's default
     * ({@code OMP_NUM_THREADS}, else one per core).
     */
    public static final int THREADS = Integer.getInteger("prefixshare.threads", 0);

    private NativeKernels() {
    }

    static native int capabilities();

    static native String version();

    /**
     * Forward. {@code strides}: 12 longs, (batch, row, head) strides of q, k, v, out. lse is dense [B,Hq,T];
     * node and subtreeEnd are dense int32 [B,T].
     */
    public static native void attentionForward(int dtype, long q, long k, long v, long out, long lse, long node,
                                               long subtreeEnd, long[] strides, int batch, int seqlen, int headsQ,
                                               int headsKv, int headDim, double scale, int numThreads);

    /** Backward. {@code strides}: the 12 forward strides, then those of dout, dq, dk, dv (24 longs). */
    public static native void attentionBackward(int dtype, long q, long k, long v, long out, long lse, long node,
                                                long subtreeEnd, long dout, long dq, long dk, long dv,
                                                long[] strides, int batch, int seqlen, int headsQ, int headsKv,
                                                int headDim, double scale, int numThreads);
}
