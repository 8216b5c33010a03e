package org.prefixshare.hf;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.RopeScaling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HfConfigTest {

    private static final String QWEN2_7B = "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\","
            + "\"vocab_size\":152064,\"hidden_size\":3584,\"num_hidden_layers\":28,\"num_attention_heads\":28,"
            + "\"num_key_value_heads\":4,\"intermediate_size\":18944,\"rope_theta\":1000000.0,"
            + "\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
            + "\"use_sliding_window\":false,\"sliding_window\":131072,\"hidden_act\":\"silu\"}";

    private static final String MISTRAL_7B = "{\"model_type\":\"mistral\",\"vocab_size\":32000,\"hidden_size\":4096,"
            + "\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
            + "\"intermediate_size\":14336,\"rope_theta\":10000.0,\"rms_norm_eps\":1e-05,"
            + "\"tie_word_embeddings\":false,\"sliding_window\":4096,\"torch_dtype\":\"bfloat16\"}";

    private static final String LLAMA31 = "{\"model_type\":\"llama\",\"vocab_size\":128256,\"hidden_size\":4096,"
            + "\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
            + "\"intermediate_size\":14336,\"rope_theta\":500000.0,\"rms_norm_eps\":1e-05,\"mlp_bias\":false,"
            + "\"attention_bias\":false,\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,"
            + "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},"
            + "\"torch_dtype\":\"bfloat16\"}";

    @Test
    void readsPublishedConfigs() {
        HfConfig q = HfConfig.parse(QWEN2_7B, "qwen2/config.json");
        assertEquals(DecoderConfig.qwen2_7b(), q.decoder());
        assertEquals("bfloat16", q.torchDtype());
        assertEquals(DecoderConfig.mistral7b(), HfConfig.parse(MISTRAL_7B, "m").decoder());
        DecoderConfig l = HfConfig.parse(LLAMA31, "l").decoder();
        assertEquals(RopeScaling.llama3(8, 1, 4, 8192), l.ropeScaling());
        assertEquals(0, l.slidingWindow());
    }

    @Test
    void presetsRoundTripThroughJson() {
        for (String name : HfConfig.presets()) {
            HfConfig p = HfConfig.preset(name);
            HfConfig back = HfConfig.parse(p.toJson(), name);
            assertEquals(p.decoder(), back.decoder(), name);
            assertEquals(p.modelType(), back.modelType(), name);
        }
        DecoderConfig scaled = new DecoderConfig(100, 16, 1, 2, 1, 8, 24, 1e4, 1e-6, false, DataType.DOUBLE, false,
                RopeScaling.llama3(8, 1, 4, 64), 0);
        assertEquals(scaled.withDataType(DataType.FLOAT),
                HfConfig.parse(HfConfig.of(scaled).toJson(), "x").decoder());
        assertEquals(RopeScaling.linear(2),
                HfConfig.parse(LLAMA31.replace("\"rope_type\":\"llama3\"", "\"type\":\"linear\"").replace(
                        "\"factor\":8.0", "\"factor\":2.0"), "x").decoder().ropeScaling());
    }

    @Test
    void qwen2SlidingWindowOnlyWhenUsed() {
        assertEquals(0, HfConfig.parse(QWEN2_7B, "q").decoder().slidingWindow());
        assertEquals(131072, HfConfig.parse(QWEN2_7B.replace("\"use_sliding_window\":false",
                "\"use_sliding_window\":true"), "q").decoder().slidingWindow());
        assertEquals(0, HfConfig.parse(MISTRAL_7B.replace("\"sliding_window\":4096", "\"sliding_window\":null"), "m")
                .decoder().slidingWindow());
    }

    @Test
    void refusesWhatItDoesNotImplementByName() {
        assertRefused(LLAMA31.replace("\"rope_type\":\"llama3\"", "\"rope_type\":\"yarn\""), "rope_scaling", "yarn");
        assertRefused(LLAMA31.replace("\"rope_type\":\"llama3\"", "\"rope_type\":\"dynamic\""), "rope_scaling",
                "dynamic");
        assertRefused(LLAMA31.replace("\"model_type\":\"llama\"", "\"model_type\":\"gpt2\""), "model_type", "gpt2");
        assertRefused(LLAMA31.replace("\"mlp_bias\":false", "\"mlp_bias\":true"), "mlp_bias", "true");
        assertRefused(LLAMA31.replace("\"attention_bias\":false", "\"attention_bias\":true"), "attention_bias",
                "o_proj");
        assertRefused(LLAMA31.replace("\"mlp_bias\":false", "\"hidden_act\":\"gelu\""), "hidden_act", "gelu");
        assertRefused(LLAMA31.replace("\"hidden_size\":4096,", ""), "hidden_size", "missing");
        assertRefused(LLAMA31.replace("\"hidden_size\":4096", "\"hidden_size\":\"4096\""), "hidden_size", "integer");
        assertRefused(LLAMA31.replace("\"torch_dtype\":\"bfloat16\"", "\"torch_dtype\":\"int8\""), "torch_dtype",
                "int8");
        assertRefused(LLAMA31.replace("\"mlp_bias\":false", "\"quantization_config\":{\"bits\":4}"),
                "quantization_config", "quantised");
        assertRefused(LLAMA31.replace("\"num_key_value_heads\":8", "\"num_key_value_heads\":5"), "", "multiple");
        assertRefused(LLAMA31.replace("\"original_max_position_embeddings\":8192,", ""),
                "rope_scaling.original_max_position_embeddings", "missing");
        IllegalArgumentException dup = assertThrows(IllegalArgumentException.class,
                () -> HfConfig.parse("{\"model_type\":\"llama\",\"model_type\":\"qwen2\"}", "dir/config.json"));
        assertTrue(dup.getMessage().startsWith("dir/config.json: not valid JSON"), dup.getMessage());
    }

    private static void assertRefused(String json, String field, String word) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HfConfig.parse(json, "some/dir/config.json"));
        assertTrue(e.getMessage().startsWith("some/dir/config.json: "), e.getMessage());
        assertTrue(e.getMessage().contains(field) && e.getMessage().contains(word), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }

    /**
     * transformers' {@code _compute_llama3_parameters} on Llama 3.1's published values, written out here in float32
     * as torch computes it: every inverse frequency lands in the right band (kept, divided by 8, or interpolated).
     */
    @Test
    void llama3ScalingFollowsTransformers() {
        int d = 128;
        double theta = 500000;
        double[] inv = RopeScaling.llama3(8, 1, 4, 8192).inverseFrequencies(d, theta);
        double[] base = RopeScaling.NONE.inverseFrequencies(d, theta);
        int kept = 0;
        int divided = 0;
        int smoothed = 0;
        for (int i = 0; i < d / 2; i++) {
            float f = (float) (1.0 / Math.pow(theta, (2.0 * i) / d));
            assertEquals(f, base[i], Math.ulp(f) * 2, "base " + i);
            float wavelen = (float) (2 * Math.PI) / f;
            float expected;
            if (wavelen < 8192f / 4) {
                expected = f;
                kept++;
            } else if (wavelen > 8192f / 1) {
                expected = f / 8;
                divided++;
            } else {
                float smooth = (8192f / wavelen - 1f) / (4f - 1f);
                expected = (1 - smooth) * f / 8 + smooth * f;
                smoothed++;
            }
            assertEquals(expected, inv[i], Math.abs(expected) * 1e-6, "inv_freq " + i);
        }
        assertTrue(kept > 0 && divided > 0 && smoothed > 0, kept + " " + divided + " " + smoothed);
        double[] lin = RopeScaling.linear(4).inverseFrequencies(d, theta);
        for (int i = 0; i < d / 2; i++) {
            assertEquals(base[i] / 4, lin[i], base[i] * 1e-7);
        }
    }
}
