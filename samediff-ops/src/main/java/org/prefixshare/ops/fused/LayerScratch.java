package org.prefixshare.ops.fused;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The temporaries of one {@link DecoderLayerKernels} call, carved from one array per thread that is kept between
 * calls. Allocating them fresh on every layer and step made ND4J map and first-touch new pages each time (5-9% of
 * a {@code bench training} step in page faults and allocation); reused, they stay resident. The array grows to the
 * largest call seen on the thread and is kept for the thread's life.
 *
 * <p>Views handed out are valid until the next {@link #begin} on the same thread: never let one escape the call.
 */
final class LayerScratch {

    /**
     * Views start on 64-byte boundaries: the first at the block's first one, the next a multiple of 16 elements
     * further ({@link LayerWorkspace} says why).
     */
    private static final long ALIGN = 16;
    private static final long CACHE_LINE = 64;

    private static final ThreadLocal<LayerScratch> LOCAL = ThreadLocal.withInitial(LayerScratch::new);

    private INDArray block;
    private long used;

    private LayerScratch() {
    }

    /**
     * The calling thread's scratch, emptied, with room for arrays of the given element counts in {@code type}.
     * Earlier views of this thread's scratch become invalid.
     */
    static LayerScratch begin(DataType type, long... sizes) {
        long need = 0;
        for (long n : sizes) {
            need += roundUp(n);
        }
        need += ALIGN; // room to reach the first boundary
        LayerScratch s = LOCAL.get();
        if (s.block == null || s.block.dataType() != type || s.block.length() < need) {
            s.block = Nd4j.createUninitializedDetached(type, need);
        }
        long address = s.block.data().addressPointer().address();
        s.used = 0;
        while (s.used < ALIGN && (address + s.used * type.width()) % CACHE_LINE != 0) {
            s.used++;
        }
        if (s.used == ALIGN) {
            s.used = 0;
        }
        return s;
    }

    /** A dense c-order array of this shape from the scratch (contents undefined). */
    INDArray take(long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (used + n > block.length()) {
            throw new IllegalStateException("decoder layer scratch: " + (used + n) + " elements asked of "
                    + block.length() + " reserved");
        }
        INDArray v = Nd4j.create(block.data(), shape, Nd4j.getStrides(shape, 'c'), used, 'c');
        used += roundUp(n);
        return v;
    }

    private static long roundUp(long n) {
        return (n + ALIGN - 1) / ALIGN * ALIGN;
    }
}
