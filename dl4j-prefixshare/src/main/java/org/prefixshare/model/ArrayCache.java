package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.InferenceSession;
import org.nd4j.autodiff.samediff.internal.memory.ArrayCacheMemoryMgr;

/**
 * Bounds the array cache of SameDiff's executions. SameDiff 1.0.0-M2.1 keeps the arrays an execution frees for reuse
 * (its {@code ArrayCacheMemoryMgr}), up to a quarter of JavaCPP's off-heap limit, and one such cache per SameDiff
 * instance and thread: a LoRA model, its gradient function and its adapters-off reference are three. Measured on a
 * Mistral-7B-shape model (14.5 GB of bfloat16 weights), the three caches grew the second step's peak by 1.9 GB. The
 * cache saves page faults on every step, so it is kept, but as one cache per thread shared by every model bound here,
 * of at most {@link #DEFAULT_CAP} ({@code -Dprefixshare.arrayCache}, bytes). Executions on one thread run one at a
 * time, so an array one of them freed is free for the others.
 */
public final class ArrayCache {

    /** The property that sets the cap, in bytes. */
    public static final String PROPERTY = "prefixshare.arrayCache";
    /** Default cap: 1 GiB. */
    public static final long DEFAULT_CAP = 1L << 30;

    private static final ThreadLocal<ArrayCacheMemoryMgr> SHARED = ThreadLocal.withInitial(() -> {
        ArrayCacheMemoryMgr mgr = new ArrayCacheMemoryMgr();
        mgr.setMaxCacheBytes(Math.min(mgr.getMaxCacheBytes(), cap()));
        return mgr;
    });

    private ArrayCache() {
    }

    /** The cap in bytes. */
    public static long cap() {
        return Long.getLong(PROPERTY, DEFAULT_CAP);
    }

    /** Gives {@code sd}'s executions on the calling thread the thread's shared cache of at most {@link #cap()} bytes. */
    public static void bound(SameDiff sd) {
        InferenceSession session = sd.getSessions().computeIfAbsent(Thread.currentThread().getId(),
                id -> new InferenceSession(sd));
        session.setMmgr(SHARED.get());
    }
}
