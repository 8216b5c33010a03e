package org.prefixshare.bench.training;

import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.model.DecoderConfig;

import java.util.List;
import java.util.Locale;

/**
 * Model shapes for {@code bench training}. The default, {@code bench}, is a Mistral-shaped decoder (GQA, SwiGLU,
 * RoPE, untied LM head on the byte vocabulary) scaled so that a CPU run fits minutes while attention and the
 * per-token matmuls are both a real share of a step at the scaled lengths: at a full Mistral-7B width, attention
 * would be a few per cent of the FLOPs at these lengths and the comparison would only measure the MLP. The
 * {@link DecoderConfig} presets ({@code tiny}, {@code small}) are accepted too.
 */
public final class BenchModels {

    /** Names accepted by {@link #byName}. */
    public static final List<String> NAMES = List.of("bench", "tiny", "small");

    private BenchModels() {
    }

    /**
     * hidden 128, 4 layers, 4 query heads x 32, 2 kv heads (GQA), SwiGLU 352, byte vocabulary (260), float32:
     * 792,576 parameters.
     */
    public static DecoderConfig bench() {
        return new DecoderConfig(260, 128, 4, 4, 2, 32, 352, 10000.0, 1e-6, false, DataType.FLOAT);
    }

    /** A model by name. */
    public static DecoderConfig byName(String name) {
        if (name.toLowerCase(Locale.ROOT).equals("bench")) {
            return bench();
        }
        if (name.equalsIgnoreCase("tiny") || name.equalsIgnoreCase("small")) {
            return DecoderConfig.preset(name);
        }
        throw new IllegalArgumentException("unknown bench model '" + name + "'; valid: " + NAMES);
    }
}
