package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.data.workload.WorkloadProfile;
import org.prefixshare.model.DecoderConfig;

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
                ModeBatches.ONE_ROW, "smoke", tiny, List.of(TrainingMode.values()), true, 3, 0);
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
                    "peak_mem_mb", "fixed_step_ms", "cost_ideal_packed_vs_paired_packed", "expected_shared",
                    "expected_shared_packed", "expected_packed_vs_paired_packed"), names(p));
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
    void aPackLengthShorterThanTheLongestDocumentIsRefusedNamingTheWorkload() {
        DecoderConfig tiny = new DecoderConfig(260, 32, 1, 2, 1, 16, 64, 10000.0, 1e-6, false, DataType.FLOAT);
        TrainingBenchmark.Settings s = new TrainingBenchmark.Settings("custom", 4, 2, 0, 1, 1, 2, 1, 64, "smoke", tiny,
                List.of(TrainingMode.D, TrainingMode.E), true, 3, 0);
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
