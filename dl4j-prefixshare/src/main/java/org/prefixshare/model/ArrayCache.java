package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.InferenceSession;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.LongShapeDescriptor;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.exec.ArrayRecycler;

import java.lang.ref.WeakReference;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The arrays of SameDiff's executions on one thread: where they come from, and where they go when an execution is
 * over. Four problems of SameDiff 1.0.0-M2.1 made a 7B-class step's memory grow past what it holds live:
 * <ol>
 *   <li>Its array cache ({@code ArrayCacheMemoryMgr}) takes up to a quarter of JavaCPP's off-heap limit, once per
 *       SameDiff instance and thread (a LoRA model, its gradient function and its adapters-off reference are three).
 *       Here there is one cache per thread, shared by every model bound to it, of at most {@link #DEFAULT_CAP}
 *       ({@code -Dprefixshare.arrayCache}, bytes). Executions on one thread run one at a time, so an array one of
 *       them freed is free for the others.</li>
 *   <li>That cache keys its bookkeeping by array id, and the id it gives a reused array
 *       ({@code BaseNDArray.assignNewId}) is the id the next new array gets too: once two arrays share an id, it
 *       takes one for the other. So this cache keeps memory, not arrays: a released array's buffer, by element type
 *       and length, handed out again inside a new array object (with an id of its own). A request it cannot serve
 *       first frees at least as much of it, oldest first: a cache of the wrong shapes must not make the process
 *       grow.</li>
 *   <li>An execution releases only some of its arrays to the cache: many (each layer's output and workspace, the
 *       gradients' intermediates) stay allocated when it ends, unreachable, until a garbage collection runs their
 *       deallocators. The Java heap is small and rarely collected, so the native memory piled up: a
 *       Mistral-7B-shape model with 8 layers peaked 2.9 GB above its live arrays after two steps. So every array an
 *       execution allocates is tracked until SameDiff releases it, and {@link #reclaim} releases the rest once the
 *       caller has what it needs, into the cache (or freed now, when the cache is full).</li>
 *   <li>A gradient execution releases nothing while it runs: a backward through N layers held all N layers' input
 *       gradients until it ended (1 GiB for a 7B-class model at 2,048 tokens). Our ops hand back the inputs they
 *       were the last to read ({@code LastReads}, {@link #recycle}), so the next layer's gradient reuses the
 *       buffer.</li>
 * </ol>
 * The model's own methods reclaim after each execution ({@link DecoderModel#logps}, ...); a loop that executes the
 * graph itself ({@code DpoTrainer}, the training benchmark) takes a {@link #mark} first and calls {@link #reclaim}
 * when it has read the outputs.
 */
public final class ArrayCache implements ArrayRecycler {

    /** The property that sets the cap, in bytes. */
    public static final String PROPERTY = "prefixshare.arrayCache";
    /** Default cap: 1 GiB. */
    public static final long DEFAULT_CAP = 1L << 30;

    private static final ThreadLocal<ArrayCache> SHARED = ThreadLocal.withInitial(ArrayCache::new);

    /**
     * Arrays this thread's executions allocated that SameDiff has not released, in allocation order. Held weakly: an
     * execution nobody reclaims (a caller's own {@code sd.output}) leaves its arrays to the garbage collector, as
     * before, rather than here for good.
     */
    private final ArrayDeque<Tracked> outstanding = new ArrayDeque<>();
    private long next;

    /** An outstanding array; {@code output}: allocated as an output the execution returns to its caller. */
    private record Tracked(long seq, WeakReference<INDArray> array, boolean output, long bytes) {
    }

    /** Bytes of the {@link #outstanding} arrays (collected ones until they are swept out), and the most since reset. */
    private long outstandingTotal;
    private long peak;

    /** Arrays whose last reader has run, waiting for its op context to let go of them ({@link #recycle}). */
    private final List<INDArray> dead = new ArrayList<>();

    /** Allocations between two sweeps of collected entries out of {@link #outstanding}. */
    private static final int PRUNE_EVERY = 4096;
    private long tracked;
    /** Free buffers by element type and length, newest first. */
    private final Map<BufferKind, ArrayDeque<DataBuffer>> free = new HashMap<>();
    /** The same buffers, oldest first (evicted first). Buffers compare by content: these are searched by identity. */
    private final ArrayDeque<DataBuffer> age = new ArrayDeque<>();
    private final long cap = cap();
    private long cachedBytes;

    private record BufferKind(DataType type, long length) {
    }

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

    /**
     * A point in the calling thread's executions: {@link #reclaim} releases what was allocated after it. Take one
     * before an execution.
     */
    public static long mark() {
        return SHARED.get().next;
    }

    /**
     * Ends the executions on the calling thread since {@code mark}: every array they allocated that SameDiff did not
     * release goes back to the cache, except the ones {@code handedOut} to the caller (and any array sharing memory
     * with one), which are the caller's from now on. Call it when nothing else those executions returned is in use.
     */
    public static void reclaim(long mark, Collection<INDArray> handedOut) {
        SHARED.get().releaseSince(mark, handedOut);
    }

    /** {@link #reclaim(long, Collection)} handing out the given arrays (none: everything goes back). */
    public static void reclaim(long mark, INDArray... handedOut) {
        reclaim(mark, Arrays.asList(handedOut));
    }

    /**
     * Bytes that the calling thread's executions since {@code mark} hold outside the cache: allocated, neither
     * released nor reclaimed, nor collected.
     */
    public static long outstandingBytes(long mark) {
        long bytes = 0;
        for (Tracked t : SHARED.get().outstanding) {
            if (t.seq() >= mark && t.array().get() != null) {
                bytes += t.bytes();
            }
        }
        return bytes;
    }

    /**
     * The most bytes the calling thread's executions held at once outside the cache (allocated, neither released nor
     * reclaimed) since {@link #resetPeak}: the high-water mark of SameDiff's arrays during a forward and backward.
     */
    public static long peakBytes() {
        return SHARED.get().peak;
    }

    /** Starts a new {@link #peakBytes} from what the calling thread's executions hold now. */
    public static void resetPeak() {
        ArrayCache c = SHARED.get();
        c.peak = c.outstandingTotal;
    }

    /** Bytes of free buffers the calling thread's cache holds. */
    public static long cachedBytes() {
        return SHARED.get().cachedBytes;
    }

    private void releaseSince(long mark, Collection<INDArray> handedOut) {
        dead.clear(); // still outstanding: released below (or, from before the mark, left alone)
        List<INDArray> release = new ArrayList<>();
        while (!outstanding.isEmpty() && outstanding.peekLast().seq() >= mark) {
            Tracked t = outstanding.pollLast();
            untrack(t);
            INDArray a = t.array().get();
            if (a != null && !sharesMemory(a, handedOut)) {
                release.add(a);
            }
        }
        release.forEach(this::keep);
    }

    private static boolean sharesMemory(INDArray a, Collection<INDArray> others) {
        if (a.data() == null) {
            return false;
        }
        long start = a.data().address();
        long end = start + bytes(a);
        for (INDArray o : others) {
            if (o == a) {
                return true;
            }
            if (o != null && o.data() != null) {
                long oStart = o.data().address();
                if (oStart < end && start < oStart + bytes(o)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static long bytes(INDArray a) {
        return a.data() == null ? 0 : bytes(a.data());
    }

    private static long bytes(DataBuffer b) {
        return b.length() * b.getElementSize();
    }

    /**
     * Keeps a released array's buffer for reuse, oldest buffers freed first to stay under the cap. Arrays that do not
     * own their whole buffer alone (views, buffers in use elsewhere) are left to the garbage collector.
     */
    private void keep(INDArray a) {
        if (a.isEmpty() || a.wasClosed() || a.data() == null || a.isView() || !a.closeable()
                || Nd4j.getExecutioner().useCount(a.data()) > 1) {
            return;
        }
        DataBuffer b = a.data();
        long bytes = bytes(b);
        if (bytes > cap) {
            a.close();
            return;
        }
        evictUntil(cap - bytes);
        free.computeIfAbsent(kindOf(b), k -> new ArrayDeque<>()).push(b);
        age.add(b);
        cachedBytes += bytes;
    }

    /** Frees the oldest cached buffers until at least {@code bytes} are freed or the cache is empty. */
    private void evict(long bytes) {
        evictUntil(cachedBytes - bytes);
    }

    /** Frees the oldest cached buffers until the cache holds at most {@code limit} bytes. */
    private void evictUntil(long limit) {
        while (cachedBytes > limit && !age.isEmpty()) {
            DataBuffer oldest = age.poll();
            free.get(kindOf(oldest)).removeIf(x -> x == oldest);
            cachedBytes -= bytes(oldest);
            oldest.close();
        }
    }

    private static BufferKind kindOf(DataBuffer b) {
        return new BufferKind(b.dataType(), b.length());
    }

    private INDArray fresh(DataType type, long[] shape, char order, boolean output) {
        if (!dead.isEmpty()) {
            recycleDead();
        }
        long length = 1;
        for (long d : shape) {
            length *= d;
        }
        ArrayDeque<DataBuffer> kind = free.get(new BufferKind(type, length));
        DataBuffer b = kind == null ? null : kind.poll();
        INDArray a;
        if (b == null) {
            // A miss: give back at least as much as is asked, oldest first, so the allocator can reuse that memory
            // rather than grow while the cache holds buffers of shapes no longer asked for.
            evict(length * type.width());
            a = Nd4j.createUninitializedDetached(type, shape);
        } else {
            age.removeIf(x -> x == b);
            cachedBytes -= bytes(b);
            a = Nd4j.create(b, shape, Nd4j.getStrides(shape, order), 0, order);
        }
        if (++tracked % PRUNE_EVERY == 0) {
            outstanding.removeIf(t -> t.array().get() == null && untrack(t));
        }
        long bytes = length * type.width();
        outstanding.add(new Tracked(next++, new WeakReference<>(a), output, bytes));
        outstandingTotal += bytes;
        peak = Math.max(peak, outstandingTotal);
        return a;
    }

    @Override
    public INDArray allocate(boolean detached, DataType dataType, long... shape) {
        return fresh(dataType, shape, 'c', detached);
    }

    @Override
    public INDArray allocate(boolean detached, LongShapeDescriptor descriptor) {
        if (descriptor.isEmpty()) {
            return Nd4j.create(descriptor);
        }
        return fresh(descriptor.dataType(), descriptor.getShape(), descriptor.getOrder(), detached);
    }

    @Override
    public INDArray ulike(INDArray arr) {
        return allocate(false, arr.dataType(), arr.shape());
    }

    @Override
    public INDArray dup(INDArray arr) {
        INDArray out = ulike(arr);
        return arr.isEmpty() ? out : out.assign(arr);
    }

    @Override
    public void release(INDArray array) {
        // only arrays this cache handed out come back into it: SameDiff may also release a placeholder (the caller's
        // array) or an op's own output, and a second release of one array must not cache its buffer twice
        if (forget(array, true)) {
            keep(array);
        }
    }

    /**
     * An array whose last reader has run ({@code LastReads}): back into the cache as soon as that op's context has let
     * go of it (its use count is back to one), usually by the next allocation; the way SameDiff's own release would,
     * if it released during a gradient execution. An execution's outputs are left to the caller.
     */
    @Override
    public void recycle(INDArray array) {
        dead.add(array);
    }

    /** Caches the {@link #dead} arrays no op context uses any more; the others wait for the next call. */
    private void recycleDead() {
        for (Iterator<INDArray> it = dead.iterator(); it.hasNext(); ) {
            INDArray a = it.next();
            if (a.wasClosed() || a.data() == null || Nd4j.getExecutioner().useCount(a.data()) <= 1) {
                it.remove();
                if (forget(a, false)) {
                    keep(a);
                }
            }
        }
    }

    /**
     * Takes {@code array} off the outstanding list (an output only if {@code outputs}); false when it is not there.
     * Searched from the newest: arrays die soon after they are allocated, so this is usually a few steps, not the
     * whole list.
     */
    private boolean forget(INDArray array, boolean outputs) {
        for (Iterator<Tracked> it = outstanding.descendingIterator(); it.hasNext(); ) {
            Tracked t = it.next();
            if (t.array().get() == array) {
                if (t.output() && !outputs) {
                    return false;
                }
                it.remove();
                return untrack(t);
            }
        }
        return false;
    }

    /** Takes {@code t}'s bytes off the outstanding total; true. */
    private boolean untrack(Tracked t) {
        outstandingTotal -= t.bytes();
        return true;
    }

    /** Frees the cached buffers. */
    @Override
    public void close() {
        age.forEach(DataBuffer::close);
        age.clear();
        free.clear();
        cachedBytes = 0;
    }
}
