package org.prefixshare.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.prefixshare.data.TestFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Hugging Face model commands end to end ({@code model init}, {@code score}, {@code train --model DIR},
 * {@code export}) and what they say about broken model directories: exit 2, one line naming the file and the problem,
 * no stack trace, nothing written to the output directory.
 */
class HfCommandsTest {

    /** The PyTorch-written fixtures of dl4j-prefixshare's tests. */
    private static final Path FIXTURES = Path.of("..", "dl4j-prefixshare", "src", "test", "resources",
            "hf-fixtures");

    @TempDir
    static Path shared;

    private static Path data;

    @BeforeAll
    static void writeData() throws IOException {
        data = shared.resolve("pairs.jsonl");
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            b.append("{\"prompt\": \"Say the word number ").append(i).append(" politely.\", \"chosen\": \"Certainly: ")
                    .append(i).append(", thank you.\", \"rejected\": \"No. ").append(i).append("!\"}\n");
        }
        Files.writeString(data, b.toString());
    }

    @Test
    void initScoreTrainAndExportAModelDirectory(@TempDir Path dir) throws IOException {
        Path model = dir.resolve("tiny");
        CliRun init = CliRun.of("model", "init", "--preset", "tiny", "--dtype", "bfloat16", "--output",
                model.toString(), "--seed", "7");
        assertEquals(0, init.code(), init.err());
        assertTrue(Files.isRegularFile(model.resolve("model.safetensors")) && Files.isRegularFile(
                model.resolve("config.json")), init.out());

        CliRun score = CliRun.of("score", "--model", model.toString(), "--input", data.toString(), "--json");
        assertEquals(0, score.code(), score.err());
        String[] lines = score.out().strip().split("\n");
        assertEquals(13, lines.length, "12 examples and a summary");
        JsonNode first = new ObjectMapper().readTree(lines[0]);
        for (String k : List.of("index", "prompt_ids", "chosen_ids", "rejected_ids", "chosen_logps",
                "rejected_logps")) {
            assertTrue(first.has(k), k + " in " + lines[0]);
        }
        assertTrue(first.get("chosen_logps").asDouble() < 0);
        assertEquals(12, score.lastJson().get("examples").asInt());

        Path run = dir.resolve("run");
        CliRun train = CliRun.of("train", "--model", model.toString(), "--input", data.toString(), "--steps", "2",
                "--eval-every", "0", "--pack-length", "256", "--rows", "2", "--output", run.toString());
        assertEquals(0, train.code(), train.err() + train.out());
        Path fin = run.resolve("final");
        assertTrue(Files.isRegularFile(fin.resolve("model.safetensors")), train.out());
        assertTrue(Files.readString(fin.resolve("config.json")).contains("\"torch_dtype\" : \"bfloat16\""),
                "saved in the base model's dtype");

        Path exported = dir.resolve("exported");
        CliRun export = CliRun.of("export", "--checkpoint", run.resolve("checkpoint-2").toString(), "--output",
                exported.toString());
        assertEquals(0, export.code(), export.err());
        assertTrue(Arrays.equals(Files.readAllBytes(fin.resolve("model.safetensors")),
                Files.readAllBytes(exported.resolve("model.safetensors"))), "export of the last checkpoint = final");
        CliRun again = CliRun.of("export", "--checkpoint", run.resolve("checkpoint-2").toString(), "--output",
                exported.toString());
        assertBadInput(again, exported.toString(), "already exists");
    }

    /** LoRA: train writes a PEFT adapter; score with it equals score of the merged export (float32, 1e-5). */
    @Test
    void loraTrainScoreAndMerge(@TempDir Path dir) throws IOException {
        Path model = dir.resolve("base");
        assertEquals(0, CliRun.of("model", "init", "--preset", "tiny", "--output", model.toString()).code());
        Path run = dir.resolve("run");
        CliRun train = CliRun.of("train", "--model", model.toString(), "--input", data.toString(), "--steps", "4",
                "--lr", "1e-2", "--lora-r", "4", "--lora-targets", "q_proj,v_proj,down_proj", "--pack-length", "256",
                "--eval-every", "0", "--output", run.toString(), "--json");
        assertEquals(0, train.code(), train.err() + train.out());
        JsonNode fin = train.lastJson();
        assertTrue(fin.get("trainable_params").asLong() > 0 && fin.get("step_seconds").asDouble() > 0
                && fin.get("peak_rss_mb").asDouble() > 0, fin.toString());
        Path adapter = run.resolve("final");
        assertTrue(Files.isRegularFile(adapter.resolve("adapter_config.json")), train.out());
        Path merged = dir.resolve("merged");
        CliRun export = CliRun.of("export", "--adapter", adapter.toString(), "--merge", "--output",
                merged.toString());
        assertEquals(0, export.code(), export.err());
        CliRun withAdapter = CliRun.of("score", "--model", model.toString(), "--adapter", adapter.toString(),
                "--input", data.toString(), "--json");
        CliRun ofMerged = CliRun.of("score", "--model", merged.toString(), "--input", data.toString(), "--json");
        CliRun ofBase = CliRun.of("score", "--model", model.toString(), "--input", data.toString(), "--json");
        String[] a = withAdapter.out().strip().split("\n");
        String[] b = ofMerged.out().strip().split("\n");
        String[] c = ofBase.out().strip().split("\n");
        ObjectMapper om = new ObjectMapper();
        double worst = 0;
        double moved = 0;
        for (int i = 0; i < a.length - 1; i++) {
            for (String k : List.of("chosen_logps", "rejected_logps")) {
                double x = om.readTree(a[i]).get(k).asDouble();
                double y = om.readTree(b[i]).get(k).asDouble();
                worst = Math.max(worst, Math.abs(x - y) / Math.abs(y));
                moved = Math.max(moved, Math.abs(x - om.readTree(c[i]).get(k).asDouble()) / Math.abs(y));
            }
        }
        assertTrue(worst <= 1e-5, "adapter vs merged: " + worst);
        assertTrue(moved > 1e-4, "the adapters changed the model: " + moved);
    }

    @Test
    void brokenSafetensorsFilesAreRefusedInOneLine(@TempDir Path dir) throws IOException {
        refused(dir, "truncated", "qwen2-tied-f32", d -> truncate(d.resolve("model.safetensors"), 100),
                "model.safetensors");
        refused(dir, "header-length", "qwen2-tied-f32", d -> setHeaderLength(d.resolve("model.safetensors"),
                1L << 40), "header");
        refused(dir, "unknown-dtype", "qwen2-tied-f32", d -> editHeader(d.resolve("model.safetensors"), h -> {
            h.withObject("model.norm.weight").put("dtype", "F31");
            return h;
        }), "F31");
        refused(dir, "overlap", "qwen2-tied-f32", d -> editHeader(d.resolve("model.safetensors"), h -> {
            shiftBegin(h, "model.norm.weight", -4);
            return h;
        }), "model.norm.weight");
        refused(dir, "gap", "qwen2-tied-f32", d -> editHeader(d.resolve("model.safetensors"), h -> {
            shiftBegin(h, "model.norm.weight", 4);
            return h;
        }), "model.norm.weight");
        refused(dir, "shape-bytes", "qwen2-tied-f32", d -> editHeader(d.resolve("model.safetensors"), h -> {
            ((ArrayNode) h.withObject("model.norm.weight").get("shape")).set(0, 63);
            return h;
        }), "model.norm.weight");
        refused(dir, "missing-shard", "llama-gqa-bf16-sharded",
                d -> Files.delete(d.resolve("model-00002-of-00002.safetensors")), "model-00002-of-00002");
    }

    @Test
    void unsupportedConfigsAndTokenizersAreRefusedInOneLine(@TempDir Path dir) throws IOException {
        refused(dir, "no-hidden-size", "qwen2-tied-f32", d -> editConfig(d, c -> c.remove("hidden_size")),
                "hidden_size");
        refused(dir, "model-type", "qwen2-tied-f32", d -> editConfig(d, c -> c.put("model_type", "gpt_neox")),
                "gpt_neox");
        refused(dir, "rope", "llama-gqa-bf16-sharded", d -> editConfig(d,
                c -> ((ObjectNode) c.get("rope_scaling")).put("rope_type", "yarn")), "yarn");
        refused(dir, "vocab", "qwen2-tied-f32", d -> {
            Files.copy(TestFiles.llama2Tokenizer(), d.resolve("tokenizer.json"));
            Files.copy(TestFiles.llama2Config(), d.resolve("tokenizer_config.json"));
        }, "32000");
    }

    /** A copy of fixture {@code name} broken by {@code breakIt}: score and train refuse it without writing. */
    private static void refused(Path dir, String label, String name, Breaker breakIt, String mention)
            throws IOException {
        Path model = dir.resolve(label);
        copy(FIXTURES.resolve(name), model);
        breakIt.apply(model);
        assertBadInput(CliRun.of("score", "--model", model.toString(), "--input", data.toString()), label, mention);
        Path out = dir.resolve(label + "-run");
        CliRun train = CliRun.of("train", "--model", model.toString(), "--input", data.toString(), "--steps", "1",
                "--output", out.toString());
        assertBadInput(train, label, mention);
        assertFalse(Files.exists(out), label + ": nothing written to the output directory");
    }

    private static void assertBadInput(CliRun r, String label, String mention) {
        assertEquals(2, r.code(), label + ": " + r.err() + r.out());
        String err = r.err().strip();
        assertFalse(err.contains("\n") || err.contains("\tat "), label + ": one line, no stack trace: " + err);
        assertTrue(err.contains(mention), label + ": the message names '" + mention + "': " + err);
    }

    @FunctionalInterface
    private interface Breaker {
        void apply(Path modelDir) throws IOException;
    }

    private static void copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path f : s.sorted(Comparator.naturalOrder()).toList()) {
                if (!f.getFileName().toString().equals("expected.json")) {
                    Files.copy(f, to.resolve(f.getFileName()));
                }
            }
        }
    }

    private static void truncate(Path f, int bytes) throws IOException {
        byte[] b = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(b, b.length - bytes));
    }

    private static void setHeaderLength(Path f, long n) throws IOException {
        byte[] b = Files.readAllBytes(f);
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n);
        Files.write(f, b);
    }

    /** Rewrites the safetensors header through {@code edit}, keeping the data bytes as they are. */
    private static void editHeader(Path f, UnaryOperator<ObjectNode> edit) throws IOException {
        byte[] b = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        ObjectMapper om = new ObjectMapper();
        ObjectNode header = (ObjectNode) om.readTree(new String(b, 8, (int) n, StandardCharsets.UTF_8));
        byte[] json = om.writeValueAsBytes(edit.apply(header));
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = new byte[8 + padded + (b.length - 8 - (int) n)];
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, padded);
        Arrays.fill(out, 8, 8 + padded, (byte) ' ');
        System.arraycopy(json, 0, out, 8, json.length);
        System.arraycopy(b, 8 + (int) n, out, 8 + padded, b.length - 8 - (int) n);
        Files.write(f, out);
    }

    private static void shiftBegin(ObjectNode header, String tensor, int by) {
        ArrayNode off = (ArrayNode) header.withObject(tensor).get("data_offsets");
        off.set(0, off.get(0).asLong() + by);
    }

    private static void editConfig(Path dir, java.util.function.Consumer<ObjectNode> edit) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode c = (ObjectNode) om.readTree(dir.resolve("config.json").toFile());
        edit.accept(c);
        om.writeValue(dir.resolve("config.json").toFile(), c);
    }
}
