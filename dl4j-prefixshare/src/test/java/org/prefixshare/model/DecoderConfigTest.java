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
