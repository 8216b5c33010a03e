package org.prefixshare.ops.nativeload;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * The JNI entry points of {@code libprefixshare.so} (see {@code native/src/jni}). Pointers are raw addresses of the
 * first element; strides are in elements. Call only after {@link NativeLibrary#isAvailable()} is true; argument
 * errors come back as {@link IllegalArgumentException} with the native message.
 */
public final class NativeKernels {

    /** Element type codes of {@code ps_dtype}. */
    public static final int FLOAT32 = 0;
    public static final int FLOAT64 = 1;
    /** bfloat16: only as the storage of a frozen weight operand ({@link #gemm}'s B, the LM head), read as float32. */
    public static final int BFLOAT16 = 2;

    /** The {@code ps_dtype} code of FLOAT or DOUBLE (the kernels' element types). */
    public static int dtypeCode(DataType t) {
        return switch (t) {
            case FLOAT -> FLOAT32;
            case DOUBLE -> FLOAT64;
            default -> throw new IllegalArgumentException("the native kernels run in FLOAT or DOUBLE, got " + t);
        };
    }

    /**
     * The {@code ps_dtype} code of a weight operand's storage: FLOAT, DOUBLE, or BFLOAT16 (frozen weights kept at two
     * bytes a parameter, widened to float32 exactly as the kernels read them; only beside FLOAT activations).
     */
    public static int storageCode(DataType t) {
        return t == DataType.BFLOAT16 ? BFLOAT16 : dtypeCode(t);
    }

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
     * Returns the free pages of the process's malloc heaps to the operating system (glibc {@code malloc_trim(0)});
     * true when some were released, false when none were or the C library is not glibc. ND4J's CPU arrays are
     * malloc'ed, and glibc keeps much of what they freed resident (fragmented arenas), so a process that moves on
     * to a smaller job keeps the larger job's resident size until it calls this.
     */
    public static native boolean releaseFreeMemory();

    /**
     * Forward. {@code strides}: 12 longs, (batch, row, head) strides of q, k, v, out. lse is dense [B,Hq,T] of
     * {@code AttentionDims.lseType} (float64 for float64, else float32); node and subtreeEnd are dense int32 [B,T].
     */
    public static native void attentionForward(int dtype, long q, long k, long v, long out, long lse, long node,
                                               long subtreeEnd, long[] strides, int batch, int seqlen, int headsQ,
                                               int headsKv, int headDim, double scale, int numThreads);

    /** Backward. {@code strides}: the 12 forward strides, then those of dout, dq, dk, dv (24 longs). */
    public static native void attentionBackward(int dtype, long q, long k, long v, long out, long lse, long node,
                                                long subtreeEnd, long dout, long dq, long dk, long dv,
                                                long[] strides, int batch, int seqlen, int headsQ, int headsKv,
                                                int headDim, double scale, int numThreads);

    // ---- fused row-wise kernels: raw addresses of dense c-order arrays of one dtype; outputs are overwritten ----

    /**
     * RMSNorm forward: y = (x * r) * w, r = 1 / sqrt(mean(x^2) + eps) per row. x, y {@code [rows,cols]},
     * w {@code [cols]}.
     */
    public static native void rmsNormForward(int dtype, long x, long w, long y, long rows, long cols, double eps,
                                             int numThreads);

    /** RMSNorm backward: dx {@code [rows,cols]} and dw {@code [cols]} from x, w and dy. */
    public static native void rmsNormBackward(int dtype, long x, long w, long dy, long dx, long dw, long rows,
                                              long cols, double eps, int numThreads);

    /** Rotate-half RoPE forward: x, y {@code [rows, heads*headDim]}, cos, sin {@code [rows, headDim]}. */
    public static native void ropeForward(int dtype, long x, long cos, long sin, long y, long rows, int heads,
                                          int headDim, int numThreads);

    /** RoPE backward: dx from dy (same shapes as the forward's x and y). */
    public static native void ropeBackward(int dtype, long dy, long cos, long sin, long dx, long rows, int heads,
                                           int headDim, int numThreads);

    /** SwiGLU forward: y = silu(gate) * up, all {@code [rows,cols]}. */
    public static native void swiGluForward(int dtype, long gate, long up, long y, long rows, long cols,
                                            int numThreads);

    /** SwiGLU backward: dgate and dup from gate, up and dy. */
    public static native void swiGluBackward(int dtype, long gate, long up, long dy, long dgate, long dup, long rows,
                                             long cols, int numThreads);

    /**
     * One Adam step in place on dense arrays of n elements (ND4J's adam_updater, then
     * {@code param = param * decay - update}); grad is overwritten with the update.
     */
    public static native void adam(int dtype, long n, long param, long grad, long m, long v, double lr, double beta1,
                                   double beta2, double eps, int iteration, double decay, int numThreads);

    /**
     * Log-softmax of each row at its label: {@code logp[r] = x[r, label[r]] - log(sum_j exp(x[r, j]))}; x
     * {@code [rows,cols]}, label {@code [rows]} int32 in {@code [0, cols)}, logp {@code [rows]}, dense.
     */
    public static native void labelLogProbForward(int dtype, long x, long label, long logp, long rows, long cols,
                                                  int numThreads);

    /** Its backward: {@code dx[r, j] = dy[r] ([j == label[r]] - softmax(x[r])_j)}, dx {@code [rows,cols]}. */
    public static native void labelLogProbBackward(int dtype, long x, long label, long dy, long dx, long rows,
                                                   long cols, int numThreads);

    /**
     * Backward of a row gather: {@code dst[r] = sum of src[i] over the i with index[i] = r} (increasing i, accumulated
     * in double), other rows zeroed; index {@code [n]} int32, src {@code [n,cols]}, dst {@code [rows,cols]}, dense.
     */
    public static native void scatterAddRows(int dtype, long index, long n, long src, long dst, long rows, long cols,
                                             int numThreads);

    /**
     * Matrix product {@code c[m,n] (+)= sum_k A(i,k) B(k,j)} with {@code A(i,k) = a[i*aRs + k*aCs]},
     * {@code B(k,j) = b[k*bRs + j*bCs]} (element strides: transposes are free) and c rows {@code ldc} apart. a and c
     * are of {@code dtype}; b of {@code bDtype}: dtype, or {@link #BFLOAT16} with {@link #FLOAT32} (bit for bit the
     * float32 product of the widened values).
     */
    public static native void gemm(int dtype, int bDtype, long m, long n, long k, long a, long aRs, long aCs, long b,
                                   long bRs, long bCs, long c, long ldc, boolean accumulate, int numThreads);

    /**
     * The LM head fused with the log-softmax at the labels, without {@code [n,v]} logits:
     * {@code logp[r] = <hidden[r], head[label[r]]> - lse[r]}, {@code lse[r] = log sum_j exp(<hidden[r], head[j]>)}.
     * hidden {@code [n,h]}, logp and lse {@code [n]} of dtype; head {@code [v,h]} of headDtype (dtype, or
     * {@link #BFLOAT16} beside {@link #FLOAT32}); label {@code [n]} int32 in {@code [0, v)}; dense.
     */
    public static native void lmHeadLogProbForward(int dtype, int headDtype, long hidden, long head, long label,
                                                   long logp, long lse, long n, long h, long v, int numThreads);

    /**
     * Its backward from the forward's lse and dy {@code [n]}: {@code dhidden [n,h]} and {@code dhead [v,h]} (0: a
     * frozen head, skipped; required for a bfloat16 head), each added into when its accumulate flag is set.
     */
    public static native void lmHeadLogProbBackward(int dtype, int headDtype, long hidden, long head, long label,
                                                    long lse, long dy, long dhidden, long dhead, long n, long h,
                                                    long v, boolean accumulateDhidden, boolean accumulateDhead,
                                                    int numThreads);
}
