package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.data.workload.WorkloadProfile;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.lora.LoraConfig;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bench machinery end to end on a tiny model and tiny workloads (seconds): JSON shape, report files. */
class TrainingBenchmarkSmokeTest {

    @Test
    void tinyRunProducesTheIssuesJsonShapeAndAReport(@TempDir Path dir) throws Exception {
        DecoderConfig tiny = new DecoderConfig(260, 32, 1, 2, 1, 16, 64, 10000.0, 1e-6, false, DataType.FLOAT);
        TrainingBenchmark.Settings s = new TrainingBenchmark.Settings("smoke", 40, 2, 0, 1, 1, 2, 2,
                ModeBatches.ONE_ROW, "smoke", tiny, List.of(TrainingMode.values()), true, 3, 0, null, false);
        List<String> lines = new ArrayList<>();
        TrainingBenchmark bench = new TrainingBenchmark(s, lines::add);
        TrainingBenchmark.Result r = bench.run(bench.syntheticWorkloads(List.of(WorkloadProfile.paper("HH-RLHF"),
                WorkloadProfile.paper("TLDR"))));

        JsonNode root = new ObjectMapper().readTree(TrainingReport.jsonLine(r));
        assertEquals(List.of("profiles", "scale"), names(root));
        assertEquals(2, root.get("profiles").size());
        for (JsonNode p : root.get("profiles")) {
            assertEquals(List.of("name", "ideal_shared", "ideal_shared_packed", "ideal_packed_vs_paired_packed",
                    "speedup_shared", "speedup_shared_packed", "speedup_packed_vs_paired_packed", "samples_per_s",
                    "peak_mem_mb", "fixed_step_ms", "trainable_params", "cost_ideal_packed_vs_paired_packed",
                    "expected_shared", "expected_shared_packed", "expected_packed_vs_paired_packed"), names(p));
            // full fine-tuning: every mode's optimiser updates the whole model
            for (JsonNode v : p.get("trainable_params")) {
                assertEquals(tiny.parameterCount(), v.asLong(), p.toString());
            }
            // the fixed-cost probe runs in every mode but the dense reference
            assertTrue(p.get("fixed_step_ms").get("a").isNull(), p.toString());
            for (String k : List.of("b", "c", "d", "e")) {
                assertTrue(p.get("fixed_step_ms").get(k).asDouble() > 0, p.toString());
            }
            // NaN (null) where the probe read longer than these tiny, noisy steps; never a negative speedup
            JsonNode expected = p.get("expected_packed_vs_paired_packed");
            assertTrue(expected.isNull() || expected.asDouble() > 0, p.toString());
            assertEquals(List.of("a", "b", "c", "d", "e"), names(p.get("samples_per_s")));
            assertEquals(List.of("a", "b", "c", "d", "e"), names(p.get("peak_mem_mb")));
            for (JsonNode v : p.get("samples_per_s")) {
                assertTrue(v.isNumber() && v.asDouble() > 0, p.toString());
            }
            assertTrue(p.get("ideal_shared").asDouble() > 1, p.toString());
            assertTrue(p.get("ideal_packed_vs_paired_packed").asDouble() >= 1, p.toString());
            assertTrue(p.get("speedup_shared").asDouble() > 0, p.toString());
        }
        assertEquals("HH-RLHF", root.get("profiles").get(0).get("name").asText());
        assertEquals(40.0, root.get("scale").get("length_divisor").asDouble());
        assertEquals(2, root.get("scale").get("runs_per_timed_step").asInt());
        assertTrue(root.get("scale").get("lora").isNull());
        for (TrainingBenchmark.ProfileResult p : r.profiles()) {
            double reference = p.modes().get("b").first_loss();
            for (ModeResult m : p.modes().values()) {
                assertTrue(Double.isFinite(m.first_loss()) && Double.isFinite(m.last_loss()), m.toString());
                // Every mode times the same examples from the same initial weights (warm-up is undone), so the five
                // layouts must give the same loss: the modes compare the same model.
                assertEquals(reference, m.first_loss(), 1e-4 * Math.abs(reference), p.name() + " " + m);
            }
        }

        Path md = TrainingReport.writeReport(r, dir, "test machine");
        assertTrue(Files.readString(md).contains("| HH-RLHF |"));
        byte[] png = Files.readAllBytes(dir.resolve("training.png"));
        assertTrue(png.length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G');
    }

    @Test
    void loraModesTrainOnlyTheAdaptersBesideFullFineTuning(@TempDir Path dir) throws Exception {
        DecoderConfig tiny = new DecoderConfig(260, 32, 1, 2, 1, 16, 64, 10000.0, 1e-6, false, DataType.FLOAT);
        LoraConfig lora = TrainingBenchmark.benchLora(2, "all-linear");
        assertEquals(4.0, lora.alpha());
        TrainingBenchmark.Settings s = new TrainingBenchmark.Settings("smoke", 40, 2, 0, 1, 1, 2, 1,
                ModeBatches.ONE_ROW, "smoke", tiny, List.of(TrainingMode.B, TrainingMode.D, TrainingMode.E), true, 3,
                0, lora, true);
        TrainingBenchmark bench = new TrainingBenchmark(s, line -> { });
        TrainingBenchmark.Result r = bench.run(bench.syntheticWorkloads(List.of(WorkloadProfile.paper("HH-RLHF"))));
        TrainingBenchmark.ProfileResult p = r.profiles().get(0);

        // the adapters by hand: r x (in + out) for each of the seven projections of the one layer
        int hidden = 32;
        int q = 2 * 16;
        int kv = 16;
        int mlp = 64;
        long adapters = 2L * ((hidden + q) + 2 * (hidden + kv) + (q + hidden) + 2 * (hidden + mlp) + (mlp + hidden));
        for (String k : List.of("b", "d", "e")) {
            assertEquals(adapters, p.modes().get(k).trainable_params(), k);
        }
        ModeResult full = p.modes().get("d_full");
        assertEquals(tiny.parameterCount(), full.trainable_params());
        // B starts at zero (PEFT's initialisation): the first step's loss is the base model's, the same as full
        // fine-tuning's from the same weights, in every layout
        for (String k : List.of("b", "d", "e")) {
            assertEquals(full.first_loss(), p.modes().get(k).first_loss(), 1e-5 * full.first_loss(), k);
        }
        assertTrue(p.speedup_lora_over_full() > 0, p.toString());

        JsonNode root = new ObjectMapper().readTree(TrainingReport.jsonLine(r));
        JsonNode scale = root.get("scale").get("lora");
        assertEquals(2, scale.get("r").asInt());
        assertEquals("all-linear", scale.get("targets").asText());
        assertEquals(adapters, scale.get("trainable_params").asLong());
        JsonNode profile = root.get("profiles").get(0);
        assertEquals(adapters, profile.get("trainable_params").get("d").asLong());
        assertTrue(profile.get("trainable_params").get("a").isNull());
        assertEquals(tiny.parameterCount(), profile.get("d_full").get("trainable_params").asLong());
        assertTrue(profile.get("lora_over_full_d").asDouble() > 0, profile.toString());

        ByteArrayOutputStream table = new ByteArrayOutputStream();
        TrainingReport.printTable(r, new PrintStream(table, true, StandardCharsets.UTF_8));
        String text = table.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("LoRA r 2, alpha 4, on all-linear") && text.contains(String.format("%,d trainable",
                adapters)) && text.contains("LoRA/full"), text);
        Path md = TrainingReport.writeReport(r, dir, "test machine");
        assertTrue(Files.readString(md).contains("| HH-RLHF | ") && Files.readString(md).contains("LoRA/full"));
    }

    @Test
    void loraAgainstFullFineTuningNeedsLoraAndModeD() {
        DecoderConfig tiny = new DecoderConfig(260, 32, 1, 2, 1, 16, 64, 10000.0, 1e-6, false, DataType.FLOAT);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TrainingBenchmark.Settings("smoke", 40, 2, 0, 1, 1, 2, 1, ModeBatches.ONE_ROW, "smoke", tiny,
                        List.of(TrainingMode.D), true, 3, 0, null, true));
        assertTrue(e.getMessage().contains("--lora-r"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new TrainingBenchmark.Settings("smoke", 40, 2, 0, 1, 1, 2, 1, ModeBatches.ONE_ROW, "smoke", tiny,
                        List.of(TrainingMode.B), true, 3, 0, TrainingBenchmark.benchLora(2, "q_proj"), true));
        assertTrue(e.getMessage().contains("mode d"), e.getMessage());
    }

    @Test
    void aPackLengthShorterThanTheLongestDocumentIsRefusedNamingTheWorkload() {
        DecoderConfig tiny = new DecoderConfig(260, 32, 1, 2, 1, 16, 64, 10000.0, 1e-6, false, DataType.FLOAT);
        TrainingBenchmark.Settings s = new TrainingBenchmark.Settings("custom", 4, 2, 0, 1, 1, 2, 1, 64, "smoke", tiny,
                List.of(TrainingMode.D, TrainingMode.E), true, 3, 0, null, false);
        TrainingBenchmark bench = new TrainingBenchmark(s, line -> { });
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> bench.syntheticWorkloads(List.of(WorkloadProfile.paper("Capybara"))));
        assertTrue(e.getMessage().contains("pack length 64") && e.getMessage().contains("Capybara"), e.getMessage());
    }

    private static List<String> names(JsonNode n) {
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            out.add(it.next());
        }
        return out;
    }
}
