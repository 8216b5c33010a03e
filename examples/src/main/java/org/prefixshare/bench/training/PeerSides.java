package org.prefixshare.bench.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.prefixshare.bench.training.PeersBenchmark.Model;
import org.prefixshare.bench.training.PeersBenchmark.Prepared;
import org.prefixshare.bench.training.PeersBenchmark.Side;
import org.prefixshare.bench.training.TrainingBenchmark.Workload;
import org.prefixshare.hf.HfConfig;
import org.prefixshare.hf.HfModelDirectory;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.pack.ReferenceLogps;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/** The sides of {@code bench peers}: ours in worker JVMs (or in this JVM), PyTorch in {@link TorchPeer} processes. */
public final class PeerSides {

    /** Least warm-up time of the PyTorch side (ModeRunner's for a JVM's later workloads). */
    static final double TORCH_MIN_WARMUP_S = ModeRunner.MIN_WARMUP_NANOS / 1e9;

    private PeerSides() {
    }

    /**
     * Ours: mode (b) or (d) exactly as {@code bench training} runs it ({@link ModeRunner}), packed modes in one row
     * per step; in a worker JVM of its own for the run (OMP_NUM_THREADS = threads, plus {@code env}), or in this JVM
     * (which then keeps its own environment).
     */
    public static Side ours(TrainingMode mode, int threads, boolean inProcess, long seed, Map<String, String> env) {
        if (mode != TrainingMode.B && mode != TrainingMode.D) {
            throw new IllegalArgumentException("bench peers runs ours in modes (b) and (d), got (" + mode.key() + ")");
        }
        String key = mode == TrainingMode.B ? PeersBenchmark.OURS_B : PeersBenchmark.OURS_D;
        return new Side() {
            private WorkerProcess worker;

            @Override
            public String key() {
                return key;
            }

            @Override
            public String description() {
                return "prefixshare (" + mode.key() + ") " + mode.description();
            }

            @Override
            public Prepared prepare(Model model, Path modelDir, Workload w, int warmup, ReferenceLogps refs)
                    throws Exception {
                if (inProcess) {
                    try (HfModelDirectory dir = HfModelDirectory.open(modelDir)) {
                        return new Prepared(ModeSession.inProcess(ModeRunner.prepare(w.steps(), warmup, mode,
                                model.config(), ModeBatches.ONE_ROW, dir.weights(model.config()),
                                DecoderModel.Options.FULL, refs, null)), null);
                    }
                }
                if (worker != null && !worker.alive()) {
                    // it ended in an earlier workload (PeersBenchmark reported that side as failed there)
                    worker.close();
                    worker = null;
                }
                if (worker == null) {
                    worker = WorkerProcess.start(mode, threads, env);
                }
                return new Prepared(worker.prepare(w.steps(), warmup, HfConfig.of(model.config()).toJson(),
                        ModeBatches.ONE_ROW, seed, modelDir, refs, null), null);
            }

            @Override
            public void close() {
                if (worker != null) {
                    worker.close();
                }
            }
        };
    }

    /**
     * PyTorch in a {@link TorchPeer} process of its own for the run, started now (so its settings are known before
     * the first workload).
     *
     * @param budgetMb the packed layout's budget for its dense T x T attention (a larger row is skipped)
     */
    public static TorchSide torch(TorchPeer.Layout layout, String python, Path torchref, int threads,
                                  double budgetMb, Map<String, String> env) throws IOException {
        return new TorchSide(layout, python, torchref, threads, budgetMb, env);
    }

    /** A PyTorch side; {@link #info()} is what its process reported. */
    public static final class TorchSide implements Side {
        private final TorchPeer.Layout layout;
        private final String python;
        private final Path torchref;
        private final int threads;
        private final double budgetMb;
        private final Map<String, String> env;
        private TorchPeer peer;

        private TorchSide(TorchPeer.Layout layout, String python, Path torchref, int threads, double budgetMb,
                          Map<String, String> env) throws IOException {
            this.layout = layout;
            this.python = python;
            this.torchref = torchref;
            this.threads = threads;
            this.budgetMb = budgetMb;
            this.env = Map.copyOf(env);
            this.peer = TorchPeer.start(python, torchref, layout, threads, budgetMb, env);
        }

        /** What the PyTorch process reported at start. */
        public TorchPeer.Info info() {
            return peer.info();
        }

        @Override
        public String key() {
            return layout == TorchPeer.Layout.PAIRED ? PeersBenchmark.TORCH_PAIRED : PeersBenchmark.TORCH_PACKED;
        }

        @Override
        public String description() {
            return layout.description();
        }

        @Override
        public Prepared prepare(Model model, Path modelDir, Workload w, int warmup, ReferenceLogps refs)
                throws Exception {
            if (!peer.alive()) {
                peer.close();
                peer = TorchPeer.start(python, torchref, layout, threads, budgetMb, env);
            }
            ObjectNode req = new ObjectMapper().createObjectNode();
            req.put("warmup", warmup);
            req.put("min_warmup_s", TORCH_MIN_WARMUP_S);
            req.put("max_warmup_passes", ModeRunner.MAX_WARMUP_REPEATS);
            req.put("lr", 1e-5);  // ModeRunner's AdamW
            req.put("beta", LossConfig.defaults().beta());
            req.put("memory_budget_mb", budgetMb);
            // a process that ended (the dense T x T attention of a long packed row can exhaust memory before the
            // budget says so) throws here; PeersBenchmark reports the side as failed, and its next workload starts a
            // new process (above)
            TorchPeer.Prepared p = peer.prepare(w.steps(), refs, modelDir, req);
            return new Prepared(p.session(), p.skipped());
        }

        @Override
        public void close() {
            peer.close();
        }
    }
}
