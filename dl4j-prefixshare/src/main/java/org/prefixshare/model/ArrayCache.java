package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.InferenceSession;
import org.nd4j.autodiff.samediff.internal.memory.ArrayCacheMemoryMgr;

/**
 * Bounds the array cache of SameDiff's executions. SameDiff 1.0.0-M2.1 keeps the arrays an execution frees for reuse
 * (its {@code ArrayCacheMemoryMgr}), up to a quarter of JavaCPP's off-heap limit: on a 24 GiB machine 4.75 GiB of
 * cached activations beside a model, which a 7B-class run (14.5 GB of bfloat16 weights) cannot afford. The cache
 * saves page faults on every step, so it is kept, capped at {@link #DEFAULT_CAP} ({@code -Dprefixshare.arrayCache},
 * bytes), which holds every activation of the bench models.
 */
public final class ArrayCache {

    /** The property that sets the cap, in bytes. */
    public static final String PROPERTY = "prefixshare.arrayCache";
    /** Default cap: 2 GiB. */
    public static final long DEFAULT_CAP = 2L << 30;

    private ArrayCache() {
    }

    /** The cap in bytes. */
    public static long cap() {
        return Long.getLong(PROPERTY, DEFAULT_CAP);
    }

    /** Gives {@code sd}'s execution on the calling thread a cache of at most {@link #cap()} bytes. */
    public static void bound(SameDiff sd) {
        InferenceSession session = sd.getSessions().computeIfAbsent(Thread.currentThread().getId(),
                id -> new InferenceSession(sd));
        ArrayCacheMemoryMgr mgr = new ArrayCacheMemoryMgr();
        mgr.setMaxCacheBytes(Math.min(mgr.getMaxCacheBytes(), cap()));
        session.setMmgr(mgr);
    }
}
