package org.prefixshare.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DecoderConfigTest {

    @Test
    void presetsHaveThePublishedParameterCounts() {
        assertEquals(7_241_732_096L, DecoderConfig.preset("mistral-7b").parameterCount());
        assertEquals(8_030_261_248L, DecoderConfig.preset("llama-3-8b").parameterCount());
        assertEquals(7_615_616_512L, DecoderConfig.preset("qwen2-7b").parameterCount());
        long small = DecoderConfig.small().parameterCount();
        assertTrue(small >= 20_000_000 && small <= 50_000_000, "small has " + small);
        assertTrue(DecoderConfig.tiny().parameterCount() < 200_000);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DecoderConfig.preset("gpt5"));
        assertTrue(e.getMessage().contains("tiny"), e.getMessage());
    }

    @Test
    void readsHuggingFaceConfigJson() {
        String json = "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"vocab_size\":152064,"
                + "\"hidden_size\":3584,\"num_hidden_layers\":28,\"num_attention_heads\":28,"
                + "\"num_key_value_heads\":4,\"intermediate_size\":18944,\"rope_theta\":1000000.0,"
                + "\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\"}";
        assertEquals(DecoderConfig.qwen2_7b(), DecoderConfig.fromHfJson(json, DataType.FLOAT));
        DecoderConfig tiny = DecoderConfig.tiny().withDataType(DataType.DOUBLE);
        assertEquals(tiny, DecoderConfig.fromHfJson(tiny.toHfJson(), DataType.DOUBLE));
        String mistral = "{\"model_type\":\"mistral\",\"vocab_size\":32000,\"hidden_size\":4096,"
                + "\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
                + "\"intermediate_size\":14336,\"rope_theta\":10000.0,\"rms_norm_eps\":1e-05,"
                + "\"tie_word_embeddings\":false,\"sliding_window\":4096}";
        assertEquals(DecoderConfig.mistral7b(), DecoderConfig.fromHfJson(mistral, DataType.FLOAT));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DecoderConfig.fromHfJson("{\"vocab_size\":10}", DataType.FLOAT));
        assertTrue(e.getMessage().contains("hidden_size"), e.getMessage());
    }

    @Test
    void validationNamesTheFieldAndTheValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new DecoderConfig(10, 8, 1, 3, 2, 4, 8, 1e4, 1e-6, false, DataType.FLOAT));
        assertTrue(e.getMessage().contains("3") && e.getMessage().contains("2"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new DecoderConfig(10, 8, 1, 2, 2, 5, 8, 1e4, 1e-6, false, DataType.FLOAT));
        assertThrows(IllegalArgumentException.class,
                () -> new DecoderConfig(10, 8, 1, 2, 2, 4, 8, 1e4, 1e-6, false, DataType.INT32));
        assertThrows(IllegalArgumentException.class,
                () -> new DecoderConfig(0, 8, 1, 2, 2, 4, 8, 1e4, 1e-6, false, DataType.FLOAT));
    }
}
