package org.prefixshare.model.lora;

import org.prefixshare.model.DecoderConfig;
import org.prefixshare.ops.fused.LayerProjection;

import java.util.Locale;

/**
 * The linear layers of a decoder layer that LoRA can adapt, by PEFT's {@code target_modules} names, with the input
 * and output widths of each (Hugging Face's {@code [out, in]} weight layout).
 */
public enum LoraTarget {
    Q_PROJ("self_attn.q_proj"),
    K_PROJ("self_attn.k_proj"),
    V_PROJ("self_attn.v_proj"),
    O_PROJ("self_attn.o_proj"),
    GATE_PROJ("mlp.gate_proj"),
    UP_PROJ("mlp.up_proj"),
    DOWN_PROJ("mlp.down_proj");

    private final String module;

    LoraTarget(String module) {
        this.module = module;
    }

    /** The fused decoder layer's name of this projection (same order). */
    public LayerProjection projection() {
        return LayerProjection.values()[ordinal()];
    }

    /** PEFT's name in {@code target_modules} ({@code q_proj}, ...). */
    public String peftName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The module path inside a layer ({@code self_attn.q_proj}). */
    public String module() {
        return module;
    }

    /** Hugging Face name of the adapted weight in layer {@code layer}. */
    public String weightName(int layer) {
        return "model.layers." + layer + "." + module + ".weight";
    }

    /** Input width of the projection. */
    public long in(DecoderConfig c) {
        return switch (this) {
            case O_PROJ -> (long) c.numHeads() * c.headDim();
            case DOWN_PROJ -> c.intermediateSize();
            default -> c.hiddenSize();
        };
    }

    /** Output width of the projection. */
    public long out(DecoderConfig c) {
        return switch (this) {
            case Q_PROJ -> (long) c.numHeads() * c.headDim();
            case K_PROJ, V_PROJ -> (long) c.numKvHeads() * c.headDim();
            case O_PROJ, DOWN_PROJ -> c.hiddenSize();
            case GATE_PROJ, UP_PROJ -> c.intermediateSize();
        };
    }

    /** The target of a PEFT name. */
    public static LoraTarget ofPeftName(String name) {
        for (LoraTarget t : values()) {
            if (t.peftName().equals(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException("LoRA target '" + name + "' is not a linear layer of Llama/Mistral/Qwen2; "
                + "valid: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, all-linear");
    }
}
