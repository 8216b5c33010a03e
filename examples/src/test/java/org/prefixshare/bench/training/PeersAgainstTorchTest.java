package org.prefixshare.bench.training;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.bench.training.PeersBenchmark.Model;
import org.prefixshare.bench.training.PeersBenchmark.Prepared;
import org.prefixshare.bench.training.PeersBenchmark.ProfileResult;
import org.prefixshare.bench.training.PeersBenchmark.Side;
import org.prefixshare.bench.training.TrainingBenchmark.Workload;
import org.prefixshare.data.workload.WorkloadProfile;
import org.prefixshare.hf.HfModelDirectory;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.pack.ReferenceLogps;
import org.prefixshare.train.DpoObjective;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code bench peers}' PyTorch side for real ({@code python/torchref/bench_step.py}, paired and packed, a tiny model)
 * against our loss on the same Hugging Face directory, examples and reference log-probs: the first-step losses agree
 * far inside the 1e-4 tolerance, and a PyTorch peer given other reference log-probs (a different loss on the same work)
 * fails the check. Our side here computes the first step's loss with the graph {@link ModeRunner} trains (the model
 * read from the directory, {@link ModeBatches} with the references, the DPO objective) but not its timed steps, whose
 * JIT warm-up alone takes ~10 s; {@code bench peers --quick} checks ModeRunner itself (docs/bench-peers.md).
 * A few seconds; skipped only where {@code /usr/bin/python3} cannot import torch.
 */
class PeersAgainstTorchTest {

    private static final DecoderConfig TINY = new DecoderConfig(260, 32, 2, 2, 1, 16, 64, 10000.0, 1e-6, false,
            DataType.FLOAT);
    private static final Model MODEL = new Model("tiny", TINY);
    private static final Path TORCHREF = Path.of("..", "python", "torchref");

    /**
     * Ours, for the loss check only: every step reports the loss of the first timed step's batch under the directory's
     * weights (forward only) and a fixed time.
     */
    private static Side oursLoss(TrainingMode mode) {
        return new Side() {
            @Override
            public String key() {
                return mode == TrainingMode.B ? PeersBenchmark.OURS_B : PeersBenchmark.OURS_D;
            }

            @Override
            public String description() {
                return "loss of (" + mode.key() + ")";
            }

            @Override
            public Prepared prepare(Model model, Path modelDir, Workload w, int warmup, ReferenceLogps refs) {
                double loss;
                try (HfModelDirectory dir = HfModelDirectory.open(modelDir)) {
                    DecoderModel m = DecoderModel.create(model.config(), dir.weights(model.config()),
                            mode.implementation());
                    DpoObjective objective = new DpoObjective(m, LossConfig.defaults());
                    LayoutBatch batch = ModeBatches.build(w.steps().get(warmup), mode, ModeBatches.ONE_ROW, refs);
                    loss = m.sameDiff().output(objective.feeds(batch, null, 0.0), objective.lossName())
                            .get(objective.lossName()).getDouble(0);
                }
                return new Prepared(new ModeSession() {
                    @Override
                    public void rewarm() {
                    }

                    @Override
                    public double step(int t) {
                        return 1;
                    }

                    @Override
                    public double lastLoss() {
                        return loss;
                    }

                    @Override
                    public ModeResult finish() {
                        return new ModeResult(key(), 0, 0, 0, 0, 0, 0, 0, 0, 1, true, 0, loss, loss, Double.NaN,
                                model.config().parameterCount());
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

    /**
     * A side that hands its delegate the chosen responses' reference log-probs shifted by one nat: the same work,
     * another loss.
     */
    private static Side mismatched(Side delegate) {
        return new Side() {
            @Override
            public String key() {
                return delegate.key();
            }

            @Override
            public String description() {
                return "mismatched " + delegate.description();
            }

            @Override
            public Prepared prepare(Model model, Path modelDir, Workload w, int warmup, ReferenceLogps refs)
                    throws Exception {
                return delegate.prepare(model, modelDir, w, warmup,
                        (id, rank) -> refs.get(id, rank) + (rank == 0 ? 1 : 0));
            }

            @Override
            public void close() {
                delegate.close();
            }
        };
    }

    @Test
    void pytorchComputesOurFirstLossAndAMismatchedPeerFailsTheCheck(@TempDir Path dir) throws Exception {
        assumeTrue(TorchPeer.torchAvailable(TorchPeer.PYTHON), "python3-torch is not installed ("
                + TorchPeer.INSTALL_HINT + "): PyTorch comparison skipped");
        PeersBenchmark.Settings s = new PeersBenchmark.Settings("test", 20, 3, 0, 1, 2, 1, List.of(MODEL), 1, 5,
                1e-4, 1, "passive");
        List<String> lines = new ArrayList<>();
        PeersBenchmark bench = new PeersBenchmark(s, lines::add);
        Path model = PeersBenchmark.writeInitialWeights(MODEL, 5, dir.resolve("model"));
        List<Workload> ws = bench.workloads(MODEL, List.of(WorkloadProfile.paper("HH-RLHF")));
        List<Side> sides = new ArrayList<>();
        try {
            PeerSides.TorchSide paired = PeerSides.torch(TorchPeer.Layout.PAIRED, TorchPeer.PYTHON, TORCHREF, 1,
                    4096, s.environment());
            sides.add(paired);
            TorchPeer.Info info = paired.info();
            assertEquals(1, info.threads(), info.describe());
            assertEquals("passive", info.json().path("env").path("OMP_WAIT_POLICY").asText(), info.describe());
            assertEquals("1", info.json().path("env").path("OPENBLAS_NUM_THREADS").asText(), info.describe());
            assertFalse(info.referenceBlas(), "PyTorch runs on the reference BLAS: " + info.describe());
            sides.add(oursLoss(TrainingMode.B));
            sides.add(oursLoss(TrainingMode.D));
            sides.add(PeerSides.torch(TorchPeer.Layout.PACKED, TorchPeer.PYTHON, TORCHREF, 1, 4096,
                    s.environment()));

            ProfileResult p = bench.run(MODEL, model, ws, sides).get(0);
            assertTrue(p.lossCheck().ok(), p.lossCheck().describe());
            assertEquals(4, p.lossCheck().firstLoss().size(), p.lossCheck().describe());
            // float32 on both sides, different summation orders: ~1e-7, far inside the tolerance
            assertTrue(p.lossCheck().maxRelDiff() < 1e-5, p.lossCheck().describe());
            double loss = p.lossCheck().firstLoss().get(PeersBenchmark.TORCH_PAIRED);
            assertTrue(loss > 0.3 && loss < 1.5, "the reference log-probs keep the first loss near ln 2: " + loss);
            for (String k : List.of(PeersBenchmark.TORCH_PAIRED, PeersBenchmark.TORCH_PACKED)) {
                PeersBenchmark.SideResult r = p.sides().get(k);
                assertTrue(r.samples_per_s() > 0 && r.runs_ms().length == 2 && r.peak_rss_mb() > 0, k + ": " + r);
                assertEquals(loss, r.first_loss(), 1e-5 * loss, k);
                // PyTorch's optimiser updates the whole model, as ours
                assertEquals(TINY.parameterCount(), r.trainable_params(), k);
                // --profile-ops: PyTorch printed where its time went
                assertTrue(r.ops().contains("aten::"), r.ops());
            }

            // the same PyTorch process, told other reference log-probs: its loss differs, the check fails
            List<Side> wrong = List.of(mismatched(sides.get(0)), sides.get(2));
            PeersBenchmark noOps = new PeersBenchmark(new PeersBenchmark.Settings("test", 20, 3, 0, 1, 2, 1,
                    List.of(MODEL), 1, 5, 1e-4, 0, null), lines::add);
            ProfileResult bad = noOps.run(MODEL, model, ws, wrong).get(0);
            assertFalse(bad.lossCheck().ok(), bad.lossCheck().describe());
            assertTrue(bad.lossCheck().maxRelDiff() > 1e-3, bad.lossCheck().describe());
            assertTrue(lines.stream().anyMatch(l -> l.contains("MISMATCH")), String.join("\n", lines));
        } finally {
            sides.forEach(Side::close);
        }
    }
}
