package org.prefixshare.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.layout.LayoutBatch;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Executions hand back what SameDiff leaves allocated, reuse it without changing a result, and never touch what was
 * handed out or allocated before a mark. The oracle for "without changing a result" is the same model on a thread
 * whose cache keeps nothing (cap 0: every array freshly allocated).
 */
class ArrayCacheTest {

    private static final DecoderConfig CONFIG = DecoderConfig.tiny().withDataType(DataType.DOUBLE);
    private static final LayoutBatch A = EquivalenceCheck.sharedBatch(DecoderModelTest.examples(3, 5, DecoderConfig.tiny().vocabSize()), 4, 2);
    private static final LayoutBatch B = EquivalenceCheck.pairedBatch(DecoderModelTest.examples(4, 5, DecoderConfig.tiny().vocabSize()), 1);

    private static DecoderModel model() {
        DecoderModel m = DecoderModel.create(CONFIG, 7);
        m.setLoss((sd, logps) -> logps.mul(logps).sum());
        return m;
    }

    /** Runs {@code task} on a new thread, whose array cache has the given cap. */
    private static <T> T onThreadWithCap(long cap, Supplier<T> task) {
        String old = System.getProperty(ArrayCache.PROPERTY);
        System.setProperty(ArrayCache.PROPERTY, Long.toString(cap));
        ExecutorService one = Executors.newSingleThreadExecutor();
        try {
            return CompletableFuture.supplyAsync(task, one).join();
        } finally {
            one.shutdown();
            if (old == null) {
                System.clearProperty(ArrayCache.PROPERTY);
            } else {
                System.setProperty(ArrayCache.PROPERTY, old);
            }
        }
    }

    @Test
    void everythingAnExecutionLeavesGoesBackExceptWhatItHandsOut() {
        DecoderModel m = model();
        long start = ArrayCache.mark();
        INDArray a = m.logps(A);
        INDArray kept = a.dup();
        assertEquals(0, ArrayCache.outstandingBytes(start), "the model's own methods reclaim");
        assertTrue(ArrayCache.cachedBytes() > 0, "the execution's leftovers are cached for the next one");
        for (int i = 0; i < 3; i++) {
            m.logps(B);
            m.lossAndGradients(B, Collections.emptyMap());
        }
        assertEquals(kept, a, "a handed-out array is the caller's: later executions never reuse its memory");
    }

    @Test
    void reusedMemoryGivesTheResultsOfFreshMemory() {
        record Run(double loss, INDArray logps, Map<String, INDArray> gradients) {
        }
        Supplier<Run> run = () -> {
            DecoderModel m = model();
            DecoderModel.LossAndGradients r = null;
            for (int i = 0; i < 3; i++) { // A's arrays go back, B's execution reuses them, then A's again
                m.logps(B);
                r = m.lossAndGradients(A, Collections.emptyMap());
            }
            return new Run(r.loss(), r.logps(), r.gradients());
        };
        Run fresh = onThreadWithCap(0, run);
        Run reused = onThreadWithCap(ArrayCache.DEFAULT_CAP, run);
        assertEquals(fresh.loss(), reused.loss(), 1e-12 * Math.abs(fresh.loss()));
        assertTrue(fresh.logps().equalsWithEps(reused.logps(), 1e-12));
        for (String n : fresh.gradients().keySet()) {
            assertTrue(fresh.gradients().get(n).equalsWithEps(reused.gradients().get(n), 1e-12), n);
        }
    }

    @Test
    void reclaimLeavesWhatWasAllocatedBeforeItsMark() {
        DecoderModel m = model();
        long before = ArrayCache.mark();
        // an execution of the caller's own, not reclaimed yet: its output (at least) is outstanding
        INDArray direct = m.sameDiff().output(m.feeds(A), DecoderModel.LOGPS).get(DecoderModel.LOGPS);
        long outstanding = ArrayCache.outstandingBytes(before);
        assertTrue(outstanding >= direct.length() * 8, "outstanding " + outstanding);
        INDArray copy = direct.dup();
        m.logps(B);
        m.lossAndGradients(B, Collections.emptyMap());
        // (its other leftovers are weakly held: unreachable now, a GC may collect them)
        assertTrue(ArrayCache.outstandingBytes(before) >= direct.length() * 8,
                "later executions reclaim only their own arrays");
        assertEquals(copy, direct);
        ArrayCache.reclaim(before, List.of(direct));
        assertEquals(0, ArrayCache.outstandingBytes(before));
        m.logps(B);
        assertEquals(copy, direct, "handed out when reclaimed: never reused");
    }

    @Test
    void theCapBoundsWhatTheCacheKeeps() {
        Supplier<Long> cachedAfterTwoSteps = () -> {
            DecoderModel m = model();
            for (int i = 0; i < 2; i++) {
                m.lossAndGradients(A, Collections.emptyMap());
            }
            return ArrayCache.cachedBytes();
        };
        long cap = 4096;
        long uncapped = onThreadWithCap(ArrayCache.DEFAULT_CAP, cachedAfterTwoSteps);
        long capped = onThreadWithCap(cap, cachedAfterTwoSteps);
        assertTrue(uncapped > cap, "a step leaves more than the small cap: " + uncapped);
        assertTrue(capped <= cap, "cached " + capped + " of at most " + cap);
    }
}
