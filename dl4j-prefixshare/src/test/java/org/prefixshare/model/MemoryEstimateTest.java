package org.prefixshare.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The estimate's parts against the arithmetic written out here from the model's shape. */
class MemoryEstimateTest {

    private static final DecoderConfig MISTRAL = DecoderConfig.mistral7b();
    private static final LoraConfig LORA = new LoraConfig(16, 32, 0, LoraConfig.parseTargets("all-linear"), false,
            "base");

    private static MemoryEstimate lora(boolean recompute) {
        return MemoryEstimate.training(MISTRAL, DecoderModel.Options.lora(LORA, LoraAdapters.initial(1),
                DataType.BFLOAT16, recompute), 4, 512);
    }

    @Test
    void aBfloat16BaseTakesTwoBytesAParameterAndTheAdaptersSixteen() {
        MemoryEstimate e = lora(true);
        assertEquals(7_241_732_096L * 2, e.weightBytes());
        // r (in + out) per adapted projection: q, k, v, o, gate, up, down of 32 layers
        long perLayer = 16L * ((4096 + 4096) + 2 * (4096 + 1024) + (4096 + 4096) + 3 * (4096 + 14336));
        assertEquals(32 * perLayer, LoraAdapters.parameterCount(MISTRAL, LORA));
        assertEquals(32 * perLayer * 4 * 5, e.optimiserBytes(), "value, gradient, gradient sum and AdamW's two moments");
    }

    @Test
    void recomputeKeepsOnlyEachLayersInput() {
        long tokens = 4 * 512;
        long input = tokens * 4096 * 4;
        // per token: queries and attention output (32 x 128), keys and values (8 x 128), residual (4096), gate and up
        // (14336 each), the attention's log-sum-exp (one per query head); float32
        long workspace = tokens * (2 * 32 * 128 + 2 * 8 * 128 + 4096 + 2 * 14336 + 32) * 4;
        MemoryEstimate with = lora(true);
        MemoryEstimate without = lora(false);
        assertEquals(32 * input, with.activationBytes());
        long slack = 64 * 8 * 4; // each block starts on a cache line
        assertTrue(Math.abs(without.activationBytes() - 32 * (input + workspace)) <= 32 * slack,
                without.activationBytes() + " vs " + 32 * (input + workspace));
        // one layer's backward (its workspace; with recompute the rerun forward's too), the gradient coming into it
        // and the one it computes for its input
        assertTrue(Math.abs(with.backwardBytes() - (2 * workspace + 2 * input)) <= 2 * slack, with.describe());
        assertTrue(Math.abs(without.backwardBytes() - (workspace + 2 * input)) <= slack, without.describe());
        assertTrue(with.totalBytes() < 24e9 && without.totalBytes() > 25e9,
                "recompute is what lets a 7B LoRA step fit in 24 GB: " + with.describe() + " / " + without.describe());
    }

    @Test
    void fullFineTuningKeepsFiveFloat32CopiesOfEveryParameter() {
        DecoderConfig tiny = DecoderConfig.tiny();
        MemoryEstimate e = MemoryEstimate.training(tiny, DecoderModel.Options.FULL, 2, 64);
        assertEquals(tiny.parameterCount() * 4, e.weightBytes());
        assertEquals(tiny.parameterCount() * 4 * 4, e.optimiserBytes(), "gradient, gradient sum, two moments");
    }
}
