package org.prefixshare.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.memory.NoOpMemoryMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.model.lora.LoraTarget;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.fused.FusedOps;

import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Executions hand back what SameDiff leaves allocated, reuse it without changing a result, and never touch what was
 * handed out or allocated before a mark; a backward hands back each layer's arrays as it leaves the layer. The oracle
 * for "without changing a result" is the same model on SameDiff's plain allocator ({@code NoOpMemoryMgr}: every
 * array fresh, nothing handed back early, nothing reused).
 */
class ArrayCacheTest {

    private static final DecoderConfig CONFIG = DecoderConfig.tiny().withDataType(DataType.DOUBLE);
    private static final LayoutBatch A = EquivalenceCheck.sharedBatch(DecoderModelTest.examples(3, 5, DecoderConfig.tiny().vocabSize()), 4, 2);
    private static final LayoutBatch B = EquivalenceCheck.pairedBatch(DecoderModelTest.examples(4, 5, DecoderConfig.tiny().vocabSize()), 1);

    private static final LoraConfig LORA = new LoraConfig(4, 8, 0, EnumSet.allOf(LoraTarget.class), false, "");

    private static DecoderModel model() {
        return withLoss(DecoderModel.create(CONFIG, 7));
    }

    /** A LoRA model with activation recompute: its backward reads each layer's saved input, then hands it back. */
    private static DecoderModel loraModel(DecoderConfig config) {
        return withLoss(DecoderModel.create(config, WeightSource.random(7, 0.1), PrefixShareOps.Implementation.AUTO,
                DecoderModel.Options.lora(LORA, LoraAdapters.initial(3), config.dataType(), true)));
    }

    private static DecoderModel withLoss(DecoderModel m) {
        m.setLoss((sd, logps) -> logps.mul(logps).sum());
        return m;
    }

    /** Puts the model's executions on this thread on SameDiff's plain allocator instead of the cache. */
    private static DecoderModel onPlainMemory(DecoderModel m) {
        long thread = Thread.currentThread().getId();
        for (SameDiff sd : List.of(m.sameDiff(), m.sameDiff().getFunction("grad"))) {
            sd.getSessions().get(thread).setMmgr(new NoOpMemoryMgr());
        }
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

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void reusedMemoryGivesTheResultsOfFreshMemory(boolean lora) {
        record Run(double loss, INDArray logps, Map<String, INDArray> gradients) {
        }
        Function<UnaryOperator<DecoderModel>, Run> run = memory -> {
            DecoderModel m = memory.apply(lora ? loraModel(CONFIG) : model());
            DecoderModel.LossAndGradients r = null;
            for (int i = 0; i < 3; i++) { // A's arrays go back, B's execution reuses them, then A's again
                m.logps(B);
                r = m.lossAndGradients(A, Collections.emptyMap());
            }
            return new Run(r.loss(), r.logps(), r.gradients());
        };
        Run fresh = onThreadWithCap(ArrayCache.DEFAULT_CAP, () -> run.apply(ArrayCacheTest::onPlainMemory));
        // the cache reusing memory, and with cap 0 freeing whatever comes back at once
        for (long cap : new long[]{ArrayCache.DEFAULT_CAP, 0}) {
            Run cached = onThreadWithCap(cap, () -> run.apply(UnaryOperator.identity()));
            assertEquals(fresh.loss(), cached.loss(), 1e-12 * Math.abs(fresh.loss()));
            assertTrue(fresh.logps().equalsWithEps(cached.logps(), 1e-12));
            for (String n : fresh.gradients().keySet()) {
                assertTrue(fresh.gradients().get(n).equalsWithEps(cached.gradients().get(n), 1e-12), n);
            }
        }
    }

    /**
     * SameDiff releases nothing while a gradient runs; our ops hand back what they read last. So with recompute, what
     * a backward holds at its high-water mark grows per layer by the layer's saved input (one [tokens, hidden] array)
     * and its adapters' gradients, not also by the input gradient of every layer it has been through.
     */
    @Test
    void aBackwardHoldsNoInputGradientOfTheLayersBehindIt() {
        DecoderConfig f32 = DecoderConfig.tiny();
        long[] peak = new long[2];
        int[] layers = {2, 6};
        for (int i = 0; i < 2; i++) {
            DecoderModel m = loraModel(f32.withNumLayers(layers[i]));
            m.lossAndGradients(A, Collections.emptyMap()); // the cache warm: a steady step, as in training
            ArrayCache.resetPeak();
            m.lossAndGradients(A, Collections.emptyMap());
            peak[i] = ArrayCache.peakBytes();
        }
        long perLayer = (peak[1] - peak[0]) / (layers[1] - layers[0]);
        long layerInput = A.rowTokens() * f32.hiddenSize() * 4L;
        long adapterGradients = LoraAdapters.parameterCount(f32, LORA) / f32.numLayers() * 4L;
        assertTrue(perLayer >= layerInput + adapterGradients, perLayer + " bytes per layer");
        // holding each layer's input gradient too would add another layerInput
        assertTrue(perLayer < layerInput / 2 + layerInput + adapterGradients, perLayer + " bytes per layer; the "
                + "layer input is " + layerInput + ", its adapters' gradients " + adapterGradients);
    }

    /** An op reading an execution's output last does not hand it back: it is the caller's. */
    @Test
    void anOutputIsNeverHandedBackEarly() {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.placeHolder("x", DataType.DOUBLE, 5, 8);
        SDVariable normed = FusedOps.fusedRmsNorm(sd, x, sd.var("w", Nd4j.rand(DataType.DOUBLE, 8)), 1e-6);
        SDVariable y = FusedOps.fusedSwiGlu(sd, normed, x);
        ArrayCache.bound(sd);
        long mark = ArrayCache.mark();
        Map<String, INDArray> first = sd.output(Map.of("x", Nd4j.rand(DataType.DOUBLE, 5, 8)), normed.name(), y.name());
        INDArray kept = first.get(normed.name()).dup();
        // a second execution allocates arrays of the same shape: a buffer handed back would be reused here
        sd.output(Map.of("x", Nd4j.rand(DataType.DOUBLE, 5, 8)), normed.name(), y.name());
        assertEquals(kept, first.get(normed.name()));
        ArrayCache.reclaim(mark);
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
