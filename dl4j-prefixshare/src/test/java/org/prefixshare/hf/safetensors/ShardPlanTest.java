package org.prefixshare.hf.safetensors;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shard plan against huggingface_hub's own cases of {@code split_state_dict_into_shards_factory}. */
class ShardPlanTest {

    /** U8 tensors named layer_1.. with the given byte sizes. */
    private static List<TensorSpec> sized(long... bytes) {
        return IntStream.range(0, bytes.length)
                .mapToObj(i -> new TensorSpec("layer_" + (i + 1), SafetensorsDtype.U8, new long[] {bytes[i]}))
                .toList();
    }

    private static List<List<String>> names(ShardPlan plan) {
        return plan.shards().stream().map(s -> s.tensors().stream().map(TensorSpec::name).toList()).toList();
    }

    /** huggingface_hub's test_multiple_shards: sizes 6, 10, 30, 2, 2 with a limit of 10. */
    @Test
    void matchesTheHubsMultipleShardCase() {
        ShardPlan plan = ShardPlan.of(sized(6, 10, 30, 2, 2), 10, "model");
        assertEquals(List.of(List.of("layer_1"), List.of("layer_3"), List.of("layer_2"),
                List.of("layer_4", "layer_5")), names(plan),
                "the oversized layer_3 gets its own shard when met, before layer_2's shard closes");
        assertEquals(List.of("model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"),
                plan.shards().stream().map(ShardPlan.Shard::fileName).toList());
        assertEquals(50, plan.totalSize());
        assertTrue(plan.sharded());
        String f1 = "model-00001-of-00004.safetensors";
        String f2 = "model-00002-of-00004.safetensors";
        String f3 = "model-00003-of-00004.safetensors";
        String f4 = "model-00004-of-00004.safetensors";
        assertEquals(Map.of("layer_1", f1, "layer_3", f2, "layer_2", f3, "layer_4", f4, "layer_5", f4),
                plan.weightMap());
        assertEquals(List.of("layer_1", "layer_2", "layer_3", "layer_4", "layer_5"),
                List.copyOf(plan.weightMap().keySet()), "sorted by name");
    }

    /** huggingface_hub's test_single_shard: a limit of 100 keeps everything in {@code <base>.safetensors}. */
    @Test
    void oneShardHasNoSuffix() {
        ShardPlan plan = ShardPlan.of(sized(6, 10, 30, 2, 2), 100, "adapter_model.safetensors");
        assertEquals(1, plan.shards().size());
        assertFalse(plan.sharded());
        assertEquals("adapter_model.safetensors", plan.shards().get(0).fileName());
        assertEquals(50, plan.shards().get(0).bytes());
    }

    /** The docstring's example: sizes [6, 6, 2, 6, 2, 2] GB with 10 GB give [6], [6+2], [6+2+2]. */
    @Test
    void greedyInOrderAsTheDocstringSays() {
        ShardPlan plan = ShardPlan.of(sized(6, 6, 2, 6, 2, 2), 10, "model");
        assertEquals(List.of(6L, 8L, 10L), plan.shards().stream().map(ShardPlan.Shard::bytes).toList());
        ShardPlan exact = ShardPlan.of(sized(5, 5, 5), 10, "model");
        assertEquals(List.of(10L, 5L), exact.shards().stream().map(ShardPlan.Shard::bytes).toList(),
                "filling exactly to the limit stays in the shard");
    }

    @Test
    void sizesParseAsTransformersReadsThem() {
        assertEquals(5_000_000_000L, ShardPlan.parseSize("5GB"));
        assertEquals(ShardPlan.DEFAULT_MAX_SHARD_BYTES, ShardPlan.parseSize("5GB"));
        assertEquals(1_500_000_000L, ShardPlan.parseSize("1.5gb"));
        assertEquals(200_000_000L, ShardPlan.parseSize(" 200MB "));
        assertEquals(500L * 1024 * 1024, ShardPlan.parseSize("500MiB"));
        assertEquals(2L << 30, ShardPlan.parseSize("2GiB"));
        assertEquals(123_456L, ShardPlan.parseSize("123456"));
        for (String bad : List.of("", "GB", "-1GB", "0", "5XB", "five GB", "1e400GB")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ShardPlan.parseSize(bad));
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }
}
