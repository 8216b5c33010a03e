package org.prefixshare.layers;

/**
 * Parameter keys of the layers in this package: the Hugging Face name relative to the layer with '_' written as '-'
 * (DL4J splits {@code <vertex>_<key>} parameter names at underscores: its updater finds the layer of a gradient by
 * the last '_', its param table by the first, so neither vertex names nor keys may contain one). The HF name of a
 * parameter is {@code <vertex name>.<key>} with every '-' turned back into '_' (vertex {@code model.layers.0} + key
 * {@code self-attn.q-proj.weight} = {@code model.layers.0.self_attn.q_proj.weight}); {@link DpoOutputLayer}'s keys
 * are absolute ({@code model.norm.weight}, {@code lm-head.weight}). {@link DecoderGraph#hfParameters} applies this
 * mapping.
 */
public final class ParamKeys {

    /** q_proj.weight [Hq*D, H] (relative to the attention block). */
    public static final String Q_PROJ = "q-proj.weight";
    /** q_proj.bias [Hq*D] (Qwen2-style attention bias only). */
    public static final String Q_BIAS = "q-proj.bias";
    /** k_proj.weight [Hkv*D, H]. */
    public static final String K_PROJ = "k-proj.weight";
    /** k_proj.bias [Hkv*D]. */
    public static final String K_BIAS = "k-proj.bias";
    /** v_proj.weight [Hkv*D, H]. */
    public static final String V_PROJ = "v-proj.weight";
    /** v_proj.bias [Hkv*D]. */
    public static final String V_BIAS = "v-proj.bias";
    /** o_proj.weight [H, Hq*D]. */
    public static final String O_PROJ = "o-proj.weight";
    /** gate_proj.weight [I, H] (relative to the MLP). */
    public static final String GATE_PROJ = "gate-proj.weight";
    /** up_proj.weight [I, H]. */
    public static final String UP_PROJ = "up-proj.weight";
    /** down_proj.weight [H, I]. */
    public static final String DOWN_PROJ = "down-proj.weight";

    /** Prefix of the attention parameters inside a {@link DecoderBlock}. */
    public static final String SELF_ATTN = "self-attn.";
    /** Prefix of the MLP parameters inside a {@link DecoderBlock}. */
    public static final String MLP = "mlp.";
    /** input_layernorm.weight [H] of a {@link DecoderBlock}. */
    public static final String INPUT_LAYERNORM = "input-layernorm.weight";
    /** post_attention_layernorm.weight [H] of a {@link DecoderBlock}. */
    public static final String POST_ATTENTION_LAYERNORM = "post-attention-layernorm.weight";

    /** The weight [H] of an {@link RmsNorm} layer. */
    public static final String NORM_WEIGHT = "weight";
    /** model.norm.weight [H] of {@link DpoOutputLayer} (absolute HF name). */
    public static final String FINAL_NORM = "model.norm.weight";
    /** lm_head.weight [V, H] of {@link DpoOutputLayer} (absolute HF name). */
    public static final String LM_HEAD = "lm-head.weight";

    /** Vertex input names of the attention and block vertices, in order. */
    public static final String INPUT = "input";
    /** RoPE positions [B,T] (float). */
    public static final String POSITION = "position";
    /** Pre-order node index [B,T] (float). */
    public static final String NODE = "node";
    /** Subtree end [B,T] (float). */
    public static final String SUBTREE_END = "subtreeEnd";

    private ParamKeys() {
    }
}
