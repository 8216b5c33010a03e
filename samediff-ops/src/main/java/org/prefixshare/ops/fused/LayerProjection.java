package org.prefixshare.ops.fused;

/**
 * The seven linear projections of a Llama / Mistral / Qwen2 decoder layer, in the order the fused layer op takes
 * their LoRA adapters (PEFT's {@code target_modules} names: {@code q_proj}, ..., {@code down_proj}).
 */
public enum LayerProjection {
    Q, K, V, O, GATE, UP, DOWN;

    /** This projection's bit in a set of projections. */
    public int bit() {
        return 1 << ordinal();
    }

    /** Whether the set {@code mask} (of {@link #bit()}s) holds this projection. */
    public boolean in(int mask) {
        return (mask & bit()) != 0;
    }
}
