package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.bench.training.PeersBenchmark.LossCheck;
import org.prefixshare.bench.training.PeersBenchmark.Model;
import org.prefixshare.bench.training.PeersBenchmark.Prepared;
import org.prefixshare.bench.training.PeersBenchmark.ProfileResult;
import org.prefixshare.bench.training.PeersBenchmark.Side;
import org.prefixshare.bench.training.TrainingBenchmark.Workload;
import org.prefixshare.data.workload.WorkloadProfile;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.pack.ReferenceLogps;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code bench peers} harness with stub sides (fixed step times and losses, no processes): the sides take turns
 * step by step, every side gets the same statistic, the loss check passes equal losses and fails a mismatched peer,
 * a skipped side is reported with its reason, and the JSON has the shape. Milliseconds to run.
 */
class PeersBenchmarkTest {

    private static final DecoderConfig TINY = new DecoderConfig(260, 32, 1, 2, 1, 16, 64, 10000.0, 1e-6, false,
            DataType.FLOAT);
    private static final Model MODEL = new Model("tiny", TINY);

    /** A side whose step t of pass p takes the given milliseconds and whose every step has the given loss. */
    private static final class StubSide implements Side {
        final String key;
        final double[][] ms;  // [pass][step]
        final double loss;
        final String skip;
        final List<String> log;
        ReferenceLogps seenRefs;
        int warmupSeen = -1;

        StubSide(String key, double[][] ms, double loss, String skip, List<String> log) {
            this.key = key;
            this.ms = ms;
            this.loss = loss;
            this.skip = skip;
            this.log = log;
        }

        @Override
        public String key() {
            return key;
        }

        @Override
        public String description() {
            return "stub " + key;
        }

        @Override
        public Prepared prepare(Model model, Path modelDir, Workload w, int warmup, ReferenceLogps refs) {
            seenRefs = refs;
            warmupSeen = warmup;
            if (skip != null) {
                return Prepared.skip(skip);
            }
            return new Prepared(new ModeSession() {
                final int[] runs = new int[ms[0].length];

                @Override
                public void rewarm() {
                    log.add(key + " rewarm");
                }

                @Override
                public double step(int t) {
                    log.add(key + " " + t);
                    return ms[runs[t]++][t];
                }

                @Override
                public double lastLoss() {
                    return loss;
                }

                @Override
                public ModeResult finish() {
                    return new ModeResult(key, 0, 0, 0, 0, ms[0].length, 0, 0, 0, 100 + key.length(), true, 0, loss,
                            loss, Double.NaN, 0);
                }

                @Override
                public void close() {
                }
            }, null);
        }

        @Override
        public void close() {
        }
    }

    private static PeersBenchmark.Settings settings(int steps, int repeats) {
        return new PeersBenchmark.Settings("test", 40, 4, 0, 1, steps, repeats, List.of(MODEL), 1, 3, 1e-4, 0, null);
    }

    @Test
    void sidesTakeTurnsAndShareOneStatistic(@TempDir Path dir) throws Exception {
        List<String> log = new ArrayList<>();
        // torch paired: runs of 100, 300 | 200, 400 ms -> median of all four 250 ms
        StubSide torch = new StubSide(PeersBenchmark.TORCH_PAIRED, new double[][]{{100, 300}, {200, 400}}, 0.7, null,
                log);
        StubSide oursB = new StubSide(PeersBenchmark.OURS_B, new double[][]{{50, 150}, {100, 1000}}, 0.7 * (1 + 1e-6),
                null, log);
        StubSide oursD = new StubSide(PeersBenchmark.OURS_D, new double[][]{{20, 30}, {40, 50}}, 0.7, null, log);
        StubSide packed = new StubSide(PeersBenchmark.TORCH_PACKED, null, Double.NaN, "too long for the budget", log);
        PeersBenchmark bench = new PeersBenchmark(settings(2, 2), line -> { });
        List<Workload> ws = bench.workloads(MODEL, List.of(WorkloadProfile.paper("HH-RLHF")));
        List<ProfileResult> rs = bench.run(MODEL, dir, ws, List.of(torch, oursB, oursD, packed));

        // each side prepared with the warm-up count and the same reference log-probs object
        assertEquals(1, torch.warmupSeen);
        assertTrue(torch.seenRefs == oursB.seenRefs && oursB.seenRefs == oursD.seenRefs);
        // rewarm each, then round (pass, step) runs every side once, the first side rotating
        assertEquals(List.of("torch_paired rewarm", "ours_b rewarm", "ours_d rewarm",
                "torch_paired 0", "ours_b 0", "ours_d 0",
                "ours_b 1", "ours_d 1", "torch_paired 1",
                "ours_b 0", "ours_d 0", "torch_paired 0",
                "ours_d 1", "torch_paired 1", "ours_b 1"), log);

        ProfileResult p = rs.get(0);
        int examples = ws.get(0).examplesPerStep();
        assertEquals(examples, p.examplesPerStep());
        assertEquals(examples * 1000.0 / 250, p.sides().get("torch_paired").samples_per_s(), 1e-9);
        assertEquals(examples * 1000.0 / 125, p.sides().get("ours_b").samples_per_s(), 1e-9);
        assertEquals(examples * 1000.0 / 35, p.sides().get("ours_d").samples_per_s(), 1e-9);
        assertEquals(2.0, p.ratio("ours_b", "torch_paired"), 1e-12);
        assertEquals(250.0 / 35, p.ratio("ours_d", "torch_paired"), 1e-12);
        assertEquals(112, p.sides().get("torch_paired").peak_rss_mb());
        assertTrue(p.lossCheck().ok(), p.lossCheck().describe());
        assertEquals(1e-6, p.lossCheck().maxRelDiff(), 1e-9);
        assertEquals("too long for the budget", p.sides().get("torch_packed").skipped());
        assertTrue(Double.isNaN(p.ratio("ours_d", "torch_packed")));
        // the token counts behind the ratios: ours (b) pads to a multiple of 64, PyTorch to the longest
        Map<String, Long> tokens = p.tokensPerStep();
        assertTrue(tokens.get("ours_b") >= tokens.get("torch_paired") && tokens.get("ours_d") < tokens.get("ours_b"),
                tokens.toString());

        PeersBenchmark.Result r = new PeersBenchmark.Result(settings(2, 2), rs, Map.of("machine", "test"), null, 1);
        JsonNode root = new ObjectMapper().readTree(PeersReport.jsonLine(r));
        assertEquals(List.of("profiles", "scale", "torch", "environment"), names(root));
        JsonNode j = root.get("profiles").get(0);
        assertEquals(List.of("name", "model", "loss_check_ok", "ours_d_over_torch_paired", "ours_b_over_torch_paired",
                "ours_d_over_torch_packed", "loss_max_rel_diff", "samples_per_s", "step_ms_median", "peak_rss_mb",
                "first_loss", "skipped", "trainable_params", "examples_per_step", "tokens_per_step"), names(j));
        assertEquals("HH-RLHF", j.get("name").asText());
        assertTrue(j.get("loss_check_ok").asBoolean());
        assertEquals(2.0, j.get("ours_b_over_torch_paired").asDouble(), 1e-12);
        assertTrue(j.get("samples_per_s").get("torch_packed").isNull());
        assertEquals("too long for the budget", j.get("skipped").get("torch_packed").asText());

        ByteArrayOutputStream table = new ByteArrayOutputStream();
        PeersReport.printTable(r, new PrintStream(table, true, StandardCharsets.UTF_8));
        String text = table.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("HH-RLHF") && text.contains("ok 1.0e-06") && text.contains("2.00x"), text);
        assertTrue(text.contains("loss check: passed on every profile"), text);
        assertFalse(text.contains("REFERENCE BLAS"), text);

        Path md = PeersReport.writeReport(r, dir.resolve("report"), "test machine", "prefixshare bench peers --test");
        assertTrue(Files.readString(md).contains("| tiny | HH-RLHF |"));
        byte[] png = Files.readAllBytes(dir.resolve("report").resolve("peers.png"));
        assertTrue(png.length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G');
    }

    @Test
    void aMismatchedPeerFailsTheLossCheckAndTheReportSaysSo(@TempDir Path dir) throws Exception {
        List<String> log = new ArrayList<>();
        double[][] ms = {{10}};
        StubSide torch = new StubSide(PeersBenchmark.TORCH_PAIRED, ms, 0.69, null, log);
        StubSide oursB = new StubSide(PeersBenchmark.OURS_B, ms, 0.69, null, log);
        StubSide oursD = new StubSide(PeersBenchmark.OURS_D, ms, 0.69 * (1 + 3e-4), null, log);
        PeersBenchmark bench = new PeersBenchmark(settings(1, 1), line -> { });
        List<ProfileResult> rs = bench.run(MODEL, dir,
                bench.workloads(MODEL, List.of(WorkloadProfile.paper("TLDR"))), List.of(torch, oursB, oursD));
        LossCheck c = rs.get(0).lossCheck();
        assertFalse(c.ok());
        assertEquals(3e-4, c.maxRelDiff(), 1e-9);
        assertTrue(c.describe().contains("MISMATCH"), c.describe());
        PeersBenchmark.Result r = new PeersBenchmark.Result(settings(1, 1), rs, Map.of(), null, 1);
        assertFalse(new ObjectMapper().readTree(PeersReport.jsonLine(r)).get("profiles").get(0)
                .get("loss_check_ok").asBoolean());
        assertTrue(PeersReport.verdict(r).contains("FAILED on 1 of 1"), PeersReport.verdict(r));
    }

    /** A side whose process ends: in prepare (failAt -1) or at its timed step failAt, as a killed worker does. */
    private static Side dying(StubSide stub, int failAt) {
        String why = "mode b ended without 'PSW TOOK' (exit 137):\n<the worker's stderr>";
        return new Side() {
            @Override
            public String key() {
                return stub.key();
            }

            @Override
            public String description() {
                return "dying " + stub.key();
            }

            @Override
            public Prepared prepare(Model model, Path modelDir, Workload w, int warmup, ReferenceLogps refs)
                    throws Exception {
                if (failAt < 0) {
                    throw new IllegalStateException(why);
                }
                ModeSession inner = stub.prepare(model, modelDir, w, warmup, refs).session();
                return new Prepared(new ModeSession() {
                    @Override
                    public void rewarm() throws Exception {
                        inner.rewarm();
                    }

                    @Override
                    public double step(int t) throws Exception {
                        if (t == failAt) {
                            throw new IllegalStateException(why);
                        }
                        return inner.step(t);
                    }

                    @Override
                    public double lastLoss() {
                        return inner.lastLoss();
                    }

                    @Override
                    public ModeResult finish() {
                        throw new AssertionError("a dead side is not asked for its result");
                    }

                    @Override
                    public void close() {
                    }
                }, null);
            }

            @Override
            public void close() {
            }
        };
    }

    @Test
    void aSideWhoseProcessEndsIsReportedAsFailedAndTheOthersGoOn(@TempDir Path dir) throws Exception {
        for (int failAt : new int[]{-1, 0, 1}) {
            List<String> log = new ArrayList<>();
            List<String> lines = new ArrayList<>();
            double[][] ms = {{100, 100}, {100, 100}};
            StubSide torch = new StubSide(PeersBenchmark.TORCH_PAIRED, ms, 0.69, null, log);
            StubSide oursD = new StubSide(PeersBenchmark.OURS_D, new double[][]{{25, 25}, {25, 25}}, 0.69, null, log);
            Side oursB = dying(new StubSide(PeersBenchmark.OURS_B, ms, 0.69, null, log), failAt);
            PeersBenchmark bench = new PeersBenchmark(settings(2, 2), lines::add);
            ProfileResult p = bench.run(MODEL, dir, bench.workloads(MODEL, List.of(WorkloadProfile.paper("TLDR"))),
                    List.of(torch, oursB, oursD)).get(0);
            String skipped = p.sides().get(PeersBenchmark.OURS_B).skipped();
            assertTrue(skipped.startsWith("failed: mode b ended without") && skipped.endsWith("(the kernel's "
                    + "out-of-memory kill)"), skipped);
            assertTrue(Double.isNaN(p.ratio(PeersBenchmark.OURS_B, PeersBenchmark.TORCH_PAIRED)));
            assertEquals(4.0, p.ratio(PeersBenchmark.OURS_D, PeersBenchmark.TORCH_PAIRED), 1e-12);
            // the loss check compares the sides that ran their first timed step
            assertTrue(p.lossCheck().ok(), p.lossCheck().describe());
            assertEquals(failAt == 1, p.lossCheck().firstLoss().containsKey(PeersBenchmark.OURS_B), "" + failAt);
            assertTrue(lines.stream().anyMatch(l -> l.contains("ours_b failed: mode b ended")), lines.toString());
        }
    }

    @Test
    void pytorchOnTheReferenceBlasIsSaidLoudlyInTheTableAndTheReport(@TempDir Path dir) throws Exception {
        List<String> log = new ArrayList<>();
        double[][] ms = {{10}};
        List<Side> sides = List.of(new StubSide(PeersBenchmark.TORCH_PAIRED, ms, 0.69, null, log),
                new StubSide(PeersBenchmark.OURS_D, ms, 0.69, null, log));
        PeersBenchmark bench = new PeersBenchmark(settings(1, 1), line -> { });
        List<ProfileResult> rs = bench.run(MODEL, dir, bench.workloads(MODEL,
                List.of(WorkloadProfile.paper("TLDR"))), sides);
        TorchPeer.Info reference = new TorchPeer.Info(new ObjectMapper().readTree("{\"torch\": \"1.13.1\", "
                + "\"threads\": 1, \"blas_info\": \"generic\", \"blas_library\": "
                + "[\"/usr/lib/x86_64-linux-gnu/blas/libblas.so.3\"], \"reference_blas\": true}"));
        PeersBenchmark.Result r = new PeersBenchmark.Result(settings(1, 1), rs, Map.of(), reference, 1);
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        PeersReport.printTable(r, new PrintStream(table, true, StandardCharsets.UTF_8));
        String text = table.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("WARNING: PyTorch is using the REFERENCE BLAS (/usr/lib/x86_64-linux-gnu/blas/"
                + "libblas.so.3)") && text.contains("apt-get install -y libopenblas0-pthread"), text);
        String md = Files.readString(PeersReport.writeReport(r, dir.resolve("report"), "test", "bench peers"));
        assertTrue(md.contains("**WARNING: PyTorch is using the REFERENCE BLAS"), md);

        // with OpenBLAS: no warning
        TorchPeer.Info openblas = new TorchPeer.Info(new ObjectMapper().readTree("{\"blas_library\": "
                + "[\"/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3\"], \"reference_blas\": false}"));
        assertEquals(null, PeersReport.blasWarning(openblas));
    }

    @Test
    void theLossCheckNeedsPyTorchPairedAndFiniteLosses() {
        assertFalse(LossCheck.of(Map.of("ours_b", 0.7, "ours_d", 0.7), 1e-4).ok());
        assertFalse(LossCheck.of(Map.of("torch_paired", 0.7), 1e-4).ok());
        assertFalse(LossCheck.of(Map.of("torch_paired", 0.7, "ours_d", Double.NaN), 1e-4).ok());
        assertTrue(LossCheck.of(Map.of("torch_paired", 0.7, "ours_d", 0.70005), 1e-4).ok());
        assertFalse(LossCheck.of(Map.of("torch_paired", 0.7, "ours_d", 0.7001), 1e-4).ok());
    }

    @Test
    void referenceLogProbsAreSeededNearTheInitialPolicysAndCoverEveryResponse() {
        PeersBenchmark bench = new PeersBenchmark(settings(2, 1), line -> { });
        Workload w = bench.workloads(MODEL, List.of(WorkloadProfile.paper("HH-RLHF"))).get(0);
        ReferenceLogps a = PeersBenchmark.references(w.steps(), 260, 3);
        ReferenceLogps b = PeersBenchmark.references(w.steps(), 260, 3);
        ReferenceLogps other = PeersBenchmark.references(w.steps(), 260, 4);
        var e = w.steps().get(0).get(0);
        for (int r = 0; r < 2; r++) {
            double ln = -Math.log(260) * e.scoredTokens(r);
            assertEquals(a.get(e.id(), r), b.get(e.id(), r));
            assertTrue(Math.abs(a.get(e.id(), r) - ln) <= 2, a.get(e.id(), r) + " vs " + ln);
        }
        assertTrue(a.get(e.id(), 0) != other.get(e.id(), 0));
        assertTrue(Double.isNaN(a.get(-5, 0)));
    }

    private static List<String> names(JsonNode n) {
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            out.add(it.next());
        }
        return out;
    }
}
