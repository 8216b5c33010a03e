package org.prefixshare.bench.training;

import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.model.DecoderConfig;

import java.util.List;
import java.util.Locale;

/**
 * Model shapes for {@code bench training}. The default, {@code bench}, is a Mistral-shaped decoder (GQA, SwiGLU,
 * RoPE, untied LM head on the byte vocabulary) as wide as a CPU run in minutes allows. Width matters more than depth
 * for what the bench compares: attention's share of a step grows with length / width, and the costs that no layout
 * saves (SameDiff's per-op scheduling, Adam, the LM head and loss on the labelled positions, which are the same in
 * every mode) shrink against the per-token matmuls as width grows. Mistral-7B at the paper's lengths spends 0.4-2.3%
 * of (d)'s FLOPs on attention; this model at lengths / 4 spends 1.9-9.8% (hidden 128 x 4 layers, used until
 * 2026-12-07: 3.7-17.8%), so it still weighs attention more than the paper's setting. The {@link DecoderConfig}
 * presets ({@code tiny}, {@code small}) are accepted too.
 */
public final class BenchModels {

    /** Names accepted by {@link #byName}. */
    public static final List<String> NAMES = List.of("bench", "large", "tiny", "small");

    private BenchModels() {
    }

    /**
     * hidden 256, 2 layers, 4 query heads x 64, 2 kv heads (GQA), SwiGLU 704, byte vocabulary (260), float32:
     * 1,608,960 parameters.
     */
    public static DecoderConfig bench() {
        return new DecoderConfig(260, 256, 2, 4, 2, 64, 704, 10000.0, 1e-6, false, DataType.FLOAT);
    }

    /**
     * {@link #bench()} four times as wide and twice as deep, heads and MLP scaled alike: hidden 1024, 4 layers, 16
     * query heads x 64, 8 kv heads, SwiGLU 2816, byte vocabulary (260), float32: 47,727,616 parameters. Attention
     * weighs less against the per-token matmuls than in the bench model ({@code bench peers}' second shape).
     */
    public static DecoderConfig large() {
        return new DecoderConfig(260, 1024, 4, 16, 8, 64, 2816, 10000.0, 1e-6, false, DataType.FLOAT);
    }

    /** A model by name. */
    public static DecoderConfig byName(String name) {
        if (name.toLowerCase(Locale.ROOT).equals("bench")) {
            return bench();
        }
        if (name.toLowerCase(Locale.ROOT).equals("large")) {
            return large();
        }
        if (name.equalsIgnoreCase("tiny") || name.equalsIgnoreCase("small")) {
            return DecoderConfig.preset(name);
        }
        throw new IllegalArgumentException("unknown bench model '" + name + "'; valid: " + NAMES);
    }
}
