package org.prefixshare.hf.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.hf.safetensors.SafetensorsException.Rule;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sharded checkpoints: written in save_pretrained's layout, read back, and every index rule refused. */
class SafetensorsCheckpointTest {

    @TempDir
    Path dir;

    /** Float tensors of 3 x 4 = 12 elements (24 bytes as BF16), named as a model's would be. */
    private static Map<String, INDArray> model() {
        Map<String, INDArray> m = new LinkedHashMap<>();
        Random r = new Random(1);
        for (String name : List.of("model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight",
                "model.layers.0.self_attn.q_proj.weight", "model.norm.weight", "lm_head.weight")) {
            float[] v = new float[12];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) r.nextGaussian();
            }
            m.put(name, Nd4j.createFromArray(v).reshape(3, 4));
        }
        return m;
    }

    private static List<TensorSpec> specs(Map<String, INDArray> tensors, SafetensorsDtype dtype) {
        return tensors.entrySet().stream().map(e -> new TensorSpec(e.getKey(), dtype, e.getValue().shape())).toList();
    }

    private Path writeSharded(Map<String, INDArray> tensors, long maxShardBytes) {
        try (ShardedWriter w = ShardedWriter.open(dir, specs(tensors, SafetensorsDtype.BF16), maxShardBytes, "model",
                ShardedWriter.PT_FORMAT)) {
            tensors.forEach(w::write);
        }
        return dir;
    }

    @Test
    void shardedRoundTripInSavePretrainedsLayout() throws IOException {
        Map<String, INDArray> tensors = model();
        writeSharded(tensors, 50); // 24 bytes each: two per shard
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                    "model-00003-of-00003.safetensors", "model.safetensors.index.json"),
                    files.map(p -> p.getFileName().toString()).sorted().toList(), "no temporary files left");
        }
        String index = Files.readString(dir.resolve("model.safetensors.index.json"));
        assertEquals("""
                {
                  "metadata": {
                    "total_parameters": 60,
                    "total_size": 120
                  },
                  "weight_map": {
                    "lm_head.weight": "model-00003-of-00003.safetensors",
                    "model.embed_tokens.weight": "model-00001-of-00003.safetensors",
                    "model.layers.0.mlp.up_proj.weight": "model-00001-of-00003.safetensors",
                    "model.layers.0.self_attn.q_proj.weight": "model-00002-of-00003.safetensors",
                    "model.norm.weight": "model-00002-of-00003.safetensors"
                  }
                }
                """, index);

        try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(dir)) {
            assertEquals(dir.resolve("model.safetensors.index.json"), c.index().orElseThrow());
            assertEquals(List.copyOf(tensors.keySet()), List.copyOf(c.tensors().keySet()), "file order");
            assertEquals(120, c.totalBytes());
            assertEquals(Map.of("format", "pt"), c.metadata());
            assertEquals(dir.resolve("model-00002-of-00003.safetensors"), c.fileOf("model.norm.weight"));
            for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
                INDArray bf16 = c.read(e.getKey());
                assertEquals(DataType.BFLOAT16, bf16.dataType());
                INDArray asFloat = c.read(e.getKey(), DataType.FLOAT);
                float[] src = e.getValue().data().asFloat();
                float[] got = asFloat.data().asFloat();
                for (int i = 0; i < src.length; i++) {
                    float want = DtypeConverter.bf16ToFloat(DtypeConverter.floatToBf16(src[i]));
                    assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got[i]), e.getKey() + " " + i);
                }
                INDArray into = Nd4j.create(DataType.DOUBLE, 3, 4);
                c.readInto(e.getKey(), into);
                assertEquals(asFloat.castTo(DataType.DOUBLE), into);
            }
            SafetensorsException missing = assertThrows(SafetensorsException.class, () -> c.read("nope"));
            assertEquals(Rule.MISSING_TENSOR, missing.rule());
        }
    }

    @Test
    void oneShardIsASingleFileWithoutIndex() throws IOException {
        Map<String, INDArray> tensors = model();
        writeSharded(tensors, ShardPlan.DEFAULT_MAX_SHARD_BYTES);
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("model.safetensors"), files.map(p -> p.getFileName().toString()).toList());
        }
        try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(dir)) {
            assertTrue(c.index().isEmpty());
            assertEquals(List.of(dir.resolve("model.safetensors")), c.files());
            assertEquals(5, c.tensors().size());
        }
    }

    @Test
    void otherBaseNamesAsPeftWritesThem() {
        SafetensorsWriter.write(dir.resolve("adapter_model.safetensors"),
                Map.of("base_model.model.lora_A.weight", Nd4j.ones(DataType.FLOAT, 2, 3)), SafetensorsDtype.F32, null);
        try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(dir, "adapter_model.safetensors")) {
            assertEquals(Nd4j.ones(DataType.FLOAT, 2, 3), c.read("base_model.model.lora_A.weight"));
        }
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsCheckpoint.open(dir));
        assertEquals(Rule.NOT_FOUND, e.rule());
        assertTrue(e.getMessage().contains("model.safetensors.index.json"), e.getMessage());
    }

    @Test
    void theIndexIsPreferredOverAStaleSingleFile() {
        writeSharded(model(), 50);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of("stale", Nd4j.ones(DataType.FLOAT, 1)),
                SafetensorsDtype.F32, null);
        try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(dir)) {
            assertFalse(c.tensors().containsKey("stale"));
        }
    }

    // ---- index rules ----

    private void editIndex(String from, String to) throws IOException {
        Path index = dir.resolve("model.safetensors.index.json");
        String text = Files.readString(index);
        assertTrue(text.contains(from), text);
        Files.writeString(index, text.replace(from, to), StandardCharsets.UTF_8);
    }

    private static SafetensorsException refused(Path dir, Rule rule) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsCheckpoint.open(dir));
        assertEquals(rule, e.rule(), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    @Test
    void missingShard() throws IOException {
        writeSharded(model(), 50);
        Files.delete(dir.resolve("model-00002-of-00003.safetensors"));
        SafetensorsException e = refused(dir, Rule.MISSING_SHARD);
        assertEquals(dir.resolve("model.safetensors.index.json"), e.file());
        assertTrue(e.getMessage().startsWith(dir.resolve("model.safetensors.index.json") + ": tensor '"),
                e.getMessage());
        assertTrue(e.getMessage().contains("missing shard: shard model-00002-of-00003.safetensors (listed for 2"),
                e.getMessage());
    }

    @Test
    void indexListsATensorTheShardLacks() throws IOException {
        writeSharded(model(), 50);
        editIndex("\"model.norm.weight\": \"model-00002-of-00003.safetensors\"",
                "\"model.norm.weight\": \"model-00002-of-00003.safetensors\",\n"
                        + "    \"model.ghost.weight\": \"model-00001-of-00003.safetensors\"");
        SafetensorsException e = refused(dir, Rule.MISSING_TENSOR);
        assertEquals("model.ghost.weight", e.tensor());
        assertEquals(dir.resolve("model-00001-of-00003.safetensors"), e.file());
    }

    @Test
    void shardHoldsATensorTheIndexDoesNotList() throws IOException {
        writeSharded(model(), 50);
        editIndex(",\n    \"model.norm.weight\": \"model-00002-of-00003.safetensors\"\n", "\n");
        SafetensorsException e = refused(dir, Rule.UNEXPECTED_TENSOR);
        assertEquals("model.norm.weight", e.tensor());
        assertTrue(e.getMessage().contains("does not list it"), e.getMessage());
    }

    @Test
    void tensorInAnotherShardThanListed() throws IOException {
        writeSharded(model(), 50);
        editIndex("\"model.norm.weight\": \"model-00002-of-00003.safetensors\"",
                "\"model.norm.weight\": \"model-00003-of-00003.safetensors\"");
        SafetensorsException e = refused(dir, Rule.UNEXPECTED_TENSOR);
        assertEquals("model.norm.weight", e.tensor());
        assertEquals(dir.resolve("model-00002-of-00003.safetensors"), e.file());
        assertTrue(e.getMessage().contains("lists it in model-00003-of-00003.safetensors, not in this shard"),
                e.getMessage());
    }

    @Test
    void totalSizeMismatch() throws IOException {
        writeSharded(model(), 50);
        editIndex("\"total_size\": 120", "\"total_size\": 121");
        SafetensorsException e = refused(dir, Rule.INDEX_INVALID);
        assertTrue(e.getMessage().contains("metadata.total_size is 121 but the tensors listed hold 120 bytes"),
                e.getMessage());
    }

    @Test
    void malformedIndexes() throws IOException {
        writeSharded(model(), 50);
        Path index = dir.resolve("model.safetensors.index.json");
        String good = Files.readString(index);
        for (String bad : List.of("[]", "{\"weight_map\": []}", "{\"metadata\": {}}", "{\"weight_map\": {\"a\": 1}}",
                "{\"weight_map\": {\"a\": \"../x.safetensors\"}}", "{\"weight_map\": {\"a\": \"/etc/x\"}}",
                "{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}", "{\"weight_map\": {}}",
                good.replace("\"total_size\": 120", "\"total_size\": \"120\""), good.substring(0, 40))) {
            Files.writeString(index, bad);
            SafetensorsException e = refused(dir, Rule.INDEX_INVALID);
            assertTrue(e.getMessage().startsWith(index.toString()), e.getMessage());
        }
        Files.writeString(index, good.replace("\"total_size\": 120", "\"total_size\": 120.0"));
        SafetensorsCheckpoint.open(dir).close();
    }

    @Test
    void writerChecksOrderAndCompleteness() throws IOException {
        Map<String, INDArray> tensors = model();
        ShardedWriter w = ShardedWriter.open(dir, specs(tensors, SafetensorsDtype.F32), 50, "model", null);
        IllegalStateException order = assertThrows(IllegalStateException.class,
                () -> w.write("lm_head.weight", tensors.get("lm_head.weight")));
        assertTrue(order.getMessage().contains("expected 'model.embed_tokens.weight'"), order.getMessage());
        w.write("model.embed_tokens.weight", tensors.get("model.embed_tokens.weight"));
        assertThrows(IllegalStateException.class, w::close);
        assertFalse(Files.exists(w.indexFile()), "no index for an unfinished checkpoint");
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.noneMatch(p -> p.toString().endsWith(".tmp")));
        }
    }

    @Test
    void anOversizedTensorGetsItsOwnShardWhileTheCurrentOneStaysOpen() {
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("a", Nd4j.ones(DataType.FLOAT, 2));
        tensors.put("big", Nd4j.ones(DataType.FLOAT, 40));
        tensors.put("c", Nd4j.ones(DataType.FLOAT, 3));
        try (ShardedWriter w = ShardedWriter.open(dir, specs(tensors, SafetensorsDtype.F32), 64, "model", null)) {
            assertEquals(List.of("big"), w.plan().shards().get(0).tensors().stream().map(TensorSpec::name).toList());
            assertEquals(List.of("a", "c"), w.plan().shards().get(1).tensors().stream().map(TensorSpec::name).toList());
            tensors.forEach(w::write);
        }
        try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(dir)) {
            assertEquals(dir.resolve("model-00002-of-00002.safetensors"), c.fileOf("c"));
            assertEquals(Nd4j.ones(DataType.FLOAT, 40), c.read("big"));
        }
    }
}
