package org.prefixshare.ops.exec.cuda;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * JNI entry points of libprefixshare_cuda.so (native/src/jni/prefixshare_cuda_jni.cpp). Every address is a device
 * pointer; the work is enqueued on {@code stream} (a cudaStream_t address) and the calls return without
 * synchronising. Errors come back as IllegalArgumentException with the library's message.
 * <p>The library is extracted from this jar ({@code /org/prefixshare/native/linux-x86_64/}) or, failing that,
 * taken from {@code java.library.path}. It links the CUDA 13 runtime statically: it needs a driver for CUDA 13
 * (R580 or newer) and an sm_80+ GPU (see the README).
 */
public final class CudaKernels {

    public static final int FLOAT32 = 0;
    public static final int BFLOAT16 = 2;
    public static final int FLOAT16 = 3;
    /** Capability flag (PS_CAP_CUDA in api.h). */
    public static final int CAP_CUDA = 1 << 4;

    private static final Logger log = LoggerFactory.getLogger(CudaKernels.class);
    private static final String RESOURCE = "/org/prefixshare/native/linux-x86_64/libprefixshare_cuda.so";
    private static volatile Boolean loaded;
    private static volatile Throwable loadError;

    private CudaKernels() {
    }

    /** Loads the library once; true when it loaded and sees an sm_80+ device. Never throws. */
    public static boolean available() {
        if (loaded == null) {
            synchronized (CudaKernels.class) {
                if (loaded == null) {
                    loaded = tryLoad();
                }
            }
        }
        return loaded;
    }

    /** Why {@link #available()} is false (null when it is true). */
    public static Throwable loadError() {
        return loadError;
    }

    private static boolean tryLoad() {
        try {
            try (InputStream in = CudaKernels.class.getResourceAsStream(RESOURCE)) {
                if (in != null) {
                    Path tmp = Files.createTempFile("libprefixshare_cuda", ".so");
                    tmp.toFile().deleteOnExit();
                    Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                    System.load(tmp.toAbsolutePath().toString());
                } else {
                    System.loadLibrary("prefixshare_cuda");
                }
            }
            if ((capabilities() & CAP_CUDA) == 0) {
                loadError = new IllegalStateException("libprefixshare_cuda.so loaded but sees no sm_80+ GPU "
                        + "(or the driver is older than CUDA 13 needs)");
                log.warn("prefixshare: {}; attention runs on the host instead", loadError.getMessage());
                return false;
            }
            log.info("prefixshare: CUDA kernels loaded (libprefixshare_cuda.so)");
            return true;
        } catch (IOException | UnsatisfiedLinkError | SecurityException e) {
            loadError = e;
            log.warn("prefixshare: could not load libprefixshare_cuda.so ({}); attention runs on the host instead",
                    e.toString());
            return false;
        }
    }

    static native int capabilities();

    /**
     * strides: q, k, v, out (batch, row, head) = 12 longs, in elements. lse is dense float32 [B,Hq,T] for every dtype.
     * Asynchronous: every buffer must outlive the stream's use of it.
     */
    static native void attentionForward(int dtype, long q, long k, long v, long out, long lse, long node,
                                        long subtreeEnd, long[] strides, int batch, int seqlen, int headsQ,
                                        int headsKv, int headDim, double scale, long stream);

    /** strides: q, k, v, out, dOut, dq, dk, dv (batch, row, head) = 24 longs. lse: float32, as the forward wrote. */
    static native void attentionBackward(int dtype, long q, long k, long v, long out, long lse, long node,
                                         long subtreeEnd, long dOut, long dq, long dk, long dv, long[] strides,
                                         int batch, int seqlen, int headsQ, int headsKv, int headDim, double scale,
                                         long stream);
}
