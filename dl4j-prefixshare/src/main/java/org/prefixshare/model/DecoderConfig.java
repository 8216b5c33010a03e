package org.prefixshare.model;

import org.nd4j.linalg.api.buffer.DataType;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Shape and numerics of a Llama / Mistral / Qwen2-style decoder (Hugging Face's {@code LlamaConfig} names in
 * brackets). Immutable and validated at construction; {@code org.prefixshare.hf.HfConfig} maps it to and from a
 * Hugging Face {@code config.json}.
 *
 * @param vocabSize         [vocab_size] token embedding rows and LM head outputs
 * @param hiddenSize        [hidden_size] residual stream width
 * @param numLayers         [num_hidden_layers] decoder layers
 * @param numHeads          [num_attention_heads] query heads
 * @param numKvHeads        [num_key_value_heads] key/value heads (GQA: numHeads is a multiple; = numHeads for MHA)
 * @param headDim           [head_dim] per-head width (HF default hidden_size / num_attention_heads); even (RoPE)
 * @param intermediateSize  [intermediate_size] SwiGLU MLP width
 * @param ropeTheta         [rope_theta] RoPE base: inv_freq[i] = ropeTheta^(-2i / headDim)
 * @param rmsNormEps        [rms_norm_eps] epsilon of every RMSNorm
 * @param tieWordEmbeddings [tie_word_embeddings] LM head reuses model.embed_tokens.weight (no lm_head.weight)
 * @param dataType          parameter and activation type (FLOAT on CPU; DOUBLE for gradient and equivalence checks)
 * @param attentionBias     [attention_bias; Qwen2 always true] q/k/v projections carry a bias (o_proj never does)
 * @param ropeScaling       [rope_scaling] how RoPE frequencies are rescaled ({@link RopeScaling#NONE}: not at all)
 * @param slidingWindow     [sliding_window] attention window of Mistral-style models, 0 for none. Sequences longer
 *                          than the window are refused (within it, windowed and full attention are the same)
 */
public record DecoderConfig(int vocabSize, int hiddenSize, int numLayers, int numHeads, int numKvHeads, int headDim,
                            int intermediateSize, double ropeTheta, double rmsNormEps, boolean tieWordEmbeddings,
                            DataType dataType, boolean attentionBias, RopeScaling ropeScaling, int slidingWindow) {

    /** Preset names accepted by {@link #preset(String)}. */
    public static final List<String> PRESETS = List.of("tiny", "small", "mistral-7b", "llama-3-8b", "qwen2-7b");

    public DecoderConfig {
        positive("vocabSize", vocabSize);
        positive("hiddenSize", hiddenSize);
        positive("numLayers", numLayers);
        positive("numHeads", numHeads);
        positive("numKvHeads", numKvHeads);
        positive("headDim", headDim);
        positive("intermediateSize", intermediateSize);
        if (numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("numHeads (num_attention_heads) must be a multiple of numKvHeads "
                    + "(num_key_value_heads), got " + numHeads + " and " + numKvHeads);
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("headDim must be even (RoPE rotates pairs), got " + headDim);
        }
        if (!(ropeTheta > 1.0) || Double.isInfinite(ropeTheta)) {
            throw new IllegalArgumentException("ropeTheta must be finite and > 1, got " + ropeTheta);
        }
        if (!(rmsNormEps > 0.0) || rmsNormEps >= 1.0) {
            throw new IllegalArgumentException("rmsNormEps must be in (0, 1), got " + rmsNormEps);
        }
        if (dataType == null || !dataType.isFPType()) {
            throw new IllegalArgumentException("dataType must be a floating point type, got " + dataType);
        }
        if (ropeScaling == null) {
            throw new IllegalArgumentException("ropeScaling is required (RopeScaling.NONE for none)");
        }
        if (slidingWindow < 0) {
            throw new IllegalArgumentException("slidingWindow must be >= 0 (0 = none), got " + slidingWindow);
        }
    }

    /** Without RoPE scaling or sliding window. */
    public DecoderConfig(int vocabSize, int hiddenSize, int numLayers, int numHeads, int numKvHeads, int headDim,
                         int intermediateSize, double ropeTheta, double rmsNormEps, boolean tieWordEmbeddings,
                         DataType dataType, boolean attentionBias) {
        this(vocabSize, hiddenSize, numLayers, numHeads, numKvHeads, headDim, intermediateSize, ropeTheta,
                rmsNormEps, tieWordEmbeddings, dataType, attentionBias, RopeScaling.NONE, 0);
    }

    /** Without attention biases (Llama, Mistral). */
    public DecoderConfig(int vocabSize, int hiddenSize, int numLayers, int numHeads, int numKvHeads, int headDim,
                         int intermediateSize, double ropeTheta, double rmsNormEps, boolean tieWordEmbeddings,
                         DataType dataType) {
        this(vocabSize, hiddenSize, numLayers, numHeads, numKvHeads, headDim, intermediateSize, ropeTheta,
                rmsNormEps, tieWordEmbeddings, dataType, false);
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(name + " must be > 0, got " + v);
        }
    }

    // ---------------------------------------------------------------- presets

    /**
     * Test model: byte tokenizer vocabulary (259 ids, rounded to 260), hidden 64, 2 layers, 4 query heads, 2 kv
     * heads (GQA), head dim 16, MLP 176, untied: 125,760 parameters.
     */
    public static DecoderConfig tiny() {
        return new DecoderConfig(260, 64, 2, 4, 2, 16, 176, 10000.0, 1e-6, false, DataType.FLOAT);
    }

    /**
     * CPU benchmark model: byte vocabulary, hidden 512, 8 layers, 8 heads, 4 kv heads, head dim 64, MLP 1408, tied.
     * 23,734,784 parameters.
     */
    public static DecoderConfig small() {
        return new DecoderConfig(260, 512, 8, 8, 4, 64, 1408, 10000.0, 1e-6, true, DataType.FLOAT);
    }

    /** mistralai/Mistral-7B-v0.1 (7.24B parameters; sliding window 4096). */
    public static DecoderConfig mistral7b() {
        return new DecoderConfig(32000, 4096, 32, 32, 8, 128, 14336, 10000.0, 1e-5, false, DataType.FLOAT, false,
                RopeScaling.NONE, 4096);
    }

    /** meta-llama/Meta-Llama-3-8B (8.03B parameters; Llama 3.0, no RoPE scaling). */
    public static DecoderConfig llama3_8b() {
        return new DecoderConfig(128256, 4096, 32, 32, 8, 128, 14336, 500000.0, 1e-5, false, DataType.FLOAT);
    }

    /** Qwen/Qwen2-7B (7.62B parameters; q/k/v biases). */
    public static DecoderConfig qwen2_7b() {
        return new DecoderConfig(152064, 3584, 28, 28, 4, 128, 18944, 1000000.0, 1e-6, false, DataType.FLOAT,
                true);
    }

    /** A preset by name (see {@link #PRESETS}). */
    public static DecoderConfig preset(String name) {
        switch (name.toLowerCase(Locale.ROOT)) {
            case "tiny":
                return tiny();
            case "small":
                return small();
            case "mistral-7b":
                return mistral7b();
            case "llama-3-8b":
                return llama3_8b();
            case "qwen2-7b":
                return qwen2_7b();
            default:
                throw new IllegalArgumentException("unknown model preset '" + name + "'; valid: " + PRESETS);
        }
    }

    // ---------------------------------------------------------------- derived sizes

    /** Query heads per key/value head. */
    public int groupSize() {
        return numHeads / numKvHeads;
    }

    /** Every parameter by its Hugging Face name with its shape (Linear weights [out, in]), in definition order. */
    public Map<String, long[]> parameterShapes() {
        Map<String, long[]> m = new LinkedHashMap<>();
        long h = hiddenSize;
        long q = (long) numHeads * headDim;
        long kv = (long) numKvHeads * headDim;
        m.put(DecoderModel.EMBED, new long[]{vocabSize, h});
        for (int l = 0; l < numLayers; l++) {
            String p = DecoderModel.layerPrefix(l);
            m.put(p + "input_layernorm.weight", new long[]{h});
            m.put(p + "self_attn.q_proj.weight", new long[]{q, h});
            m.put(p + "self_attn.k_proj.weight", new long[]{kv, h});
            m.put(p + "self_attn.v_proj.weight", new long[]{kv, h});
            if (attentionBias) {
                m.put(p + "self_attn.q_proj.bias", new long[]{q});
                m.put(p + "self_attn.k_proj.bias", new long[]{kv});
                m.put(p + "self_attn.v_proj.bias", new long[]{kv});
            }
            m.put(p + "self_attn.o_proj.weight", new long[]{h, q});
            m.put(p + "post_attention_layernorm.weight", new long[]{h});
            m.put(p + "mlp.gate_proj.weight", new long[]{intermediateSize, h});
            m.put(p + "mlp.up_proj.weight", new long[]{intermediateSize, h});
            m.put(p + "mlp.down_proj.weight", new long[]{h, intermediateSize});
        }
        m.put(DecoderModel.FINAL_NORM, new long[]{h});
        if (!tieWordEmbeddings) {
            m.put(DecoderModel.LM_HEAD, new long[]{vocabSize, h});
        }
        return m;
    }

    /** Number of parameters (tied embeddings counted once), from {@link #parameterShapes()}. */
    public long parameterCount() {
        long n = 0;
        for (long[] s : parameterShapes().values()) {
            long e = 1;
            for (long d : s) {
                e *= d;
            }
            n += e;
        }
        return n;
    }

    // ---------------------------------------------------------------- copies

    /** This config with another data type. */
    public DecoderConfig withDataType(DataType dt) {
        return new DecoderConfig(vocabSize, hiddenSize, numLayers, numHeads, numKvHeads, headDim, intermediateSize,
                ropeTheta, rmsNormEps, tieWordEmbeddings, dt, attentionBias, ropeScaling, slidingWindow);
    }

    /** This config with another number of layers (memory and speed runs on a model's shape). */
    public DecoderConfig withNumLayers(int layers) {
        return new DecoderConfig(vocabSize, hiddenSize, layers, numHeads, numKvHeads, headDim, intermediateSize,
                ropeTheta, rmsNormEps, tieWordEmbeddings, dataType, attentionBias, ropeScaling, slidingWindow);
    }

    /** This config with another vocabulary size (e.g. a tokenizer's). */
    public DecoderConfig withVocabSize(int v) {
        return new DecoderConfig(v, hiddenSize, numLayers, numHeads, numKvHeads, headDim, intermediateSize,
                ropeTheta, rmsNormEps, tieWordEmbeddings, dataType, attentionBias, ropeScaling, slidingWindow);
    }
}
