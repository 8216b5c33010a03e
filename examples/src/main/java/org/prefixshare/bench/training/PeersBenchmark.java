package org.prefixshare.bench.training;

import org.prefixshare.bench.Timing;
import org.prefixshare.bench.training.TrainingBenchmark.Workload;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.data.workload.WorkloadProfile;
import org.prefixshare.hf.HfConfig;
import org.prefixshare.hf.HfModelWriter;
import org.prefixshare.hf.ModelInit;
import org.prefixshare.hf.safetensors.SafetensorsDtype;
import org.prefixshare.io.AtomicDirectory;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.pack.ReferenceLogps;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * {@code bench peers}: the same DPO training step in PyTorch and in prefixshare, side by side, on the same model,
 * the same initial weights (one Hugging Face directory both sides read), the same examples and the same reference
 * log-probs. The sides ({@link Side}) take turns step by step on each workload, so a change of the machine's speed
 * hits all of them alike; before the timing counts, the first step's losses (computed by every side from the
 * directory's weights) are compared, so the timing compares equal work.
 */
public final class PeersBenchmark {

    private static final Logger LOG = LoggerFactory.getLogger(PeersBenchmark.class);

    /** Side keys, in table order. */
    public static final String TORCH_PAIRED = "torch_paired";
    public static final String TORCH_PACKED = "torch_packed";
    public static final String OURS_B = "ours_b";
    public static final String OURS_D = "ours_d";
    public static final List<String> SIDES = List.of(TORCH_PAIRED, TORCH_PACKED, OURS_B, OURS_D);

    /** A model shape to measure. */
    public record Model(String name, DecoderConfig config) {
    }

    /**
     * How to run.
     *
     * @param scaleLabel      "quick" / "full" / "custom"
     * @param lengthDivisor   every length of the paper's profiles is divided by this
     * @param examplesPerStep least examples per optimiser step
     * @param tokensPerStep   target paired tokens per step (as {@code bench training})
     * @param warmup          untimed steps per side (repeated to >= 2 s)
     * @param steps           timed steps per side
     * @param repeats         passes over the timed steps
     * @param models          model shapes, measured one after another
     * @param threads         threads of every side
     * @param seed            workload, weights and reference seed
     * @param lossTolerance   largest relative difference of a first-step loss from PyTorch paired's
     * @param profileOpsSteps steps run under each side's op profiler after the timing (0: none)
     * @param ompWaitPolicy   OMP_WAIT_POLICY of every side's process, or null where each inherits this environment
     */
    public record Settings(String scaleLabel, double lengthDivisor, int examplesPerStep, int tokensPerStep, int warmup,
                           int steps, int repeats, List<Model> models, int threads, long seed, double lossTolerance,
                           int profileOpsSteps, String ompWaitPolicy) {
        public Settings {
            if (!(lengthDivisor >= 1) || examplesPerStep < 1 || tokensPerStep < 0 || warmup < 0 || steps < 1
                    || repeats < 1 || threads < 1 || models.isEmpty() || !(lossTolerance > 0) || profileOpsSteps < 0) {
                throw new IllegalArgumentException("need lengthDivisor >= 1, examplesPerStep >= 1, tokensPerStep >= 0, "
                        + "warmup >= 0, steps >= 1, repeats >= 1, threads >= 1, a model, lossTolerance > 0, "
                        + "profileOpsSteps >= 0");
            }
            models = List.copyOf(models);
        }

        /** The environment every side's process gets beyond its thread counts (OMP_WAIT_POLICY when set). */
        public Map<String, String> environment() {
            return ompWaitPolicy == null ? Map.of() : Map.of("OMP_WAIT_POLICY", ompWaitPolicy);
        }

        /** {@code bench training}'s settings for the same workloads (its syntheticWorkloads draws them). */
        TrainingBenchmark.Settings training(Model m) {
            return new TrainingBenchmark.Settings(scaleLabel, lengthDivisor, examplesPerStep, tokensPerStep, warmup,
                    steps, steps, repeats, ModeBatches.ONE_ROW, m.name(), m.config(),
                    List.of(TrainingMode.B, TrainingMode.D), false, seed, threads, null, false);
        }
    }

    /** One side's session on a workload, or why it did not run. */
    public record Prepared(ModeSession session, String skipped) {
        public static Prepared skip(String reason) {
            return new Prepared(null, reason);
        }
    }

    /** One way of training, kept for the whole run (a process, or a stub in tests). */
    public interface Side extends AutoCloseable {
        /** One of {@link #SIDES}. */
        String key();

        /** What it does, for the legend. */
        String description();

        /**
         * Builds the workload's batches (its first {@code warmup} steps untimed) and the model from {@code modelDir},
         * warms up; a session or a skip.
         */
        Prepared prepare(Model model, Path modelDir, Workload workload, int warmup, ReferenceLogps references)
                throws Exception;

        @Override
        void close();
    }

    /**
     * What one side measured on one profile (NaN and a reason when skipped); trainable_params: the parameters its
     * optimiser updated, as the side counted them (-1 where unknown).
     */
    public record SideResult(String key, double samples_per_s, double step_ms, double[] runs_ms, double peak_rss_mb,
                             double first_loss, String skipped, String ops, long trainable_params) {
    }

    /**
     * The first-step losses of every side and their largest relative difference from PyTorch paired's.
     *
     * @param ok whether every side that ran is within the tolerance (and PyTorch paired ran)
     */
    public record LossCheck(Map<String, Double> firstLoss, double maxRelDiff, double tolerance, boolean ok) {

        /** The check over these losses (side key -> loss of its first timed step). */
        static LossCheck of(Map<String, Double> losses, double tolerance) {
            Double reference = losses.get(TORCH_PAIRED);
            double worst = reference == null || !Double.isFinite(reference) ? Double.NaN : 0;
            for (Map.Entry<String, Double> e : losses.entrySet()) {
                if (reference != null && !e.getKey().equals(TORCH_PAIRED)) {
                    double d = Math.abs(e.getValue() - reference) / Math.max(Math.abs(reference), Double.MIN_NORMAL);
                    worst = Double.isNaN(d) || Double.isNaN(worst) ? Double.NaN : Math.max(worst, d);
                }
            }
            return new LossCheck(Map.copyOf(losses), worst, tolerance, losses.size() > 1 && worst <= tolerance);
        }

        /** One line for the log. */
        public String describe() {
            StringBuilder b = new StringBuilder("first-step loss (from the directory's weights):");
            for (String k : SIDES) {
                Double v = firstLoss.get(k);
                if (v != null) {
                    b.append(String.format(Locale.ROOT, " %s %.8f", k, v));
                }
            }
            b.append(String.format(Locale.ROOT, "; max relative difference from torch_paired %.2e (tolerance %.0e): %s",
                    maxRelDiff, tolerance, ok ? "OK" : "MISMATCH: the sides do not compute the same loss, so their "
                            + "timings do not compare equal work"));
            return b.toString();
        }
    }

    /** One model on one profile. */
    public record ProfileResult(String model, String name, String origin, int examplesPerStep,
                                Map<String, SideResult> sides, LossCheck lossCheck,
                                Map<String, Long> tokensPerStep) {

        /** samples/s of side a over side b; NaN when either did not run. */
        public double ratio(String a, String b) {
            SideResult x = sides.get(a);
            SideResult y = sides.get(b);
            return x == null || y == null ? Double.NaN : x.samples_per_s() / y.samples_per_s();
        }
    }

    /** The whole run. */
    public record Result(Settings settings, List<ProfileResult> profiles, Map<String, String> environment,
                         TorchPeer.Info torch, double seconds) {
    }

    private final Settings s;
    private final Consumer<String> progress;

    public PeersBenchmark(Settings settings, Consumer<String> progress) {
        this.s = settings;
        this.progress = progress;
    }

    /**
     * The whole run: for each model, its initial weights written once as a Hugging Face directory (float32
     * safetensors, HF's initialisation from the seed) that every side reads, then every profile's workload measured
     * with the sides (kept for the whole run; the caller closes them).
     *
     * @param environment what the report records of the machine and settings (free-form)
     */
    public Result run(List<WorkloadProfile> profiles, List<Side> sides, TorchPeer.Info torch,
                      Map<String, String> environment) throws Exception {
        long start = System.nanoTime();
        List<ProfileResult> out = new ArrayList<>();
        Path tmp = Files.createTempDirectory("prefixshare-peers-");
        try {
            for (Model m : s.models()) {
                Path dir = writeInitialWeights(m, s.seed(), tmp.resolve(m.name()));
                progress.accept("model " + m.name() + ": initial weights written to " + dir + " (read by every side)");
                out.addAll(run(m, dir, workloads(m, profiles), sides));
                AtomicDirectory.deleteRecursively(dir);
            }
        } finally {
            AtomicDirectory.deleteRecursively(tmp);
        }
        return new Result(s, out, environment, torch, (System.nanoTime() - start) / 1e9);
    }

    /** The model's initial weights as a Hugging Face directory (float32, HF's initialisation from the seed). */
    public static Path writeInitialWeights(Model m, long seed, Path dir) {
        return ModelInit.write(HfConfig.of(m.config()), seed,
                new HfModelWriter(SafetensorsDtype.F32, 5_000_000_000L), dir, null, null);
    }

    /** The profiles' synthetic workloads for a model (the examples {@code bench training} draws at this scale). */
    public List<Workload> workloads(Model m, List<WorkloadProfile> profiles) {
        return new TrainingBenchmark(s.training(m), progress).syntheticWorkloads(profiles);
    }

    /**
     * Precomputed reference log-probs for every response of the workload: about the initial policy's (ln V nats a
     * token, V the vocabulary) shifted by a seeded offset of up to 2 nats, so the first step's loss is near ln 2
     * and depends on every log-prob. They enter the loss only, never the work of a step.
     */
    public static ReferenceLogps references(List<List<TokenizedExample>> steps, int vocab, long seed) {
        Map<Long, double[]> m = new HashMap<>();
        for (List<TokenizedExample> step : steps) {
            for (TokenizedExample e : step) {
                double[] v = new double[e.responseCount()];
                SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + e.id());
                for (int k = 0; k < v.length; k++) {
                    v[k] = -Math.log(vocab) * e.scoredTokens(k) + 4 * r.nextDouble() - 2;
                }
                m.put(e.id(), v);
            }
        }
        return (id, rank) -> {
            double[] v = m.get(id);
            return v == null || rank >= v.length ? Double.NaN : v[rank];
        };
    }

    /**
     * Measures one model on every workload with the given sides (kept for the run; the caller closes them).
     *
     * @param modelDir the initial weights, written once, read by every side
     */
    public List<ProfileResult> run(Model model, Path modelDir, List<Workload> workloads, List<Side> sides)
            throws Exception {
        List<ProfileResult> out = new ArrayList<>();
        for (Workload w : workloads) {
            progress.accept(String.format(Locale.ROOT, "%s / %s: %s; %d steps of %d examples (%d warm-up)",
                    model.name(), w.name(), w.origin(), w.steps().size(), w.examplesPerStep(), s.warmup()));
            out.add(measure(model, modelDir, w, sides));
        }
        return out;
    }

    /**
     * Prepares every side on a workload, lets them take turns step by step, checks the losses, summarises. A side
     * whose process ends (the kernel's out-of-memory kill of a large model, say) is reported as failed with its
     * reason, and the others go on; its next workload starts a new process.
     */
    ProfileResult measure(Model model, Path modelDir, Workload w, List<Side> sides) throws Exception {
        ReferenceLogps refs = references(w.steps(), model.config().vocabSize(), s.seed());
        Workload timed = new Workload(w.name(), w.steps().subList(0, s.warmup() + s.steps()), w.stats(),
                w.packLength(), w.origin());
        List<Side> running = new ArrayList<>();
        List<ModeSession> sessions = new ArrayList<>();
        Map<String, String> skipped = new LinkedHashMap<>();
        try {
            for (Side side : sides) {
                Prepared p;
                try {
                    p = side.prepare(model, modelDir, timed, s.warmup(), refs);
                } catch (IllegalStateException e) {
                    p = Prepared.skip(failed(model, w, side, e));
                }
                if (p.session() == null) {
                    skipped.put(side.key(), p.skipped());
                    progress.accept("  " + side.key() + " skipped: " + p.skipped());
                } else {
                    running.add(side);
                    sessions.add(p.session());
                }
            }
            int n = sessions.size();
            boolean[] dead = new boolean[n];
            if (n > 1) {
                for (int i = 0; i < n; i++) {
                    try {
                        sessions.get(i).rewarm();
                    } catch (IllegalStateException e) {
                        dead[i] = true;
                        skipped.put(running.get(i).key(), failed(model, w, running.get(i), e));
                    }
                }
            }
            double[][][] ms = new double[n][s.repeats()][s.steps()];
            LossCheck check = null;
            for (int pass = 0; pass < s.repeats(); pass++) {
                for (int t = 0; t < s.steps(); t++) {
                    StringBuilder line = new StringBuilder();
                    for (int k = 0; k < n; k++) {
                        int i = (t + pass + k) % n;
                        if (dead[i]) {
                            continue;
                        }
                        try {
                            ms[i][pass][t] = sessions.get(i).step(t);
                        } catch (IllegalStateException e) {
                            dead[i] = true;
                            skipped.put(running.get(i).key(), failed(model, w, running.get(i), e));
                            continue;
                        }
                        line.append(String.format(Locale.ROOT, " %s %.0f ms", running.get(i).key(), ms[i][pass][t]));
                    }
                    LOG.debug("{} / {} step {} pass {}:{}", model.name(), w.name(), t + 1, pass + 1, line);
                    if (check == null) {
                        // every side has run the first timed step once, from the directory's weights
                        Map<String, Double> losses = new LinkedHashMap<>();
                        for (int i = 0; i < n; i++) {
                            if (!dead[i]) {
                                losses.put(running.get(i).key(), sessions.get(i).lastLoss());
                            }
                        }
                        check = LossCheck.of(losses, s.lossTolerance());
                        progress.accept("  " + check.describe());
                        if (!check.ok()) {
                            LOG.error("{} / {}: {}", model.name(), w.name(), check.describe());
                        }
                    }
                }
            }
            Map<String, String> ops = new HashMap<>();
            if (s.profileOpsSteps() > 0) {
                for (int i = 0; i < n; i++) {
                    if (dead[i]) {
                        continue;
                    }
                    Side side = running.get(i);
                    String table = sessions.get(i).profileOps(s.profileOpsSteps());
                    if (table != null) {
                        ops.put(side.key(), table);
                        progress.accept("  op profile of " + side.key() + " (" + s.profileOpsSteps() + " steps after "
                                + "the timing):\n" + table);
                    }
                }
            }
            Map<String, SideResult> results = new LinkedHashMap<>();
            int examples = w.examplesPerStep();
            for (int i = 0; i < n; i++) {
                if (dead[i]) {
                    continue;
                }
                ModeResult r = sessions.get(i).finish();
                double[] all = Arrays.stream(ms[i]).flatMapToDouble(Arrays::stream).toArray();
                double median = Timing.median(all);
                Side side = running.get(i);
                results.put(side.key(), new SideResult(side.key(), examples * 1000.0 / median, median, all,
                        r.peakMemMb(), r.first_loss(), null, ops.get(side.key()), r.trainable_params()));
            }
            skipped.forEach((k, why) -> results.put(k, new SideResult(k, Double.NaN, Double.NaN, new double[0],
                    Double.NaN, Double.NaN, why, null, -1)));
            Map<String, SideResult> ordered = new LinkedHashMap<>();
            for (String k : SIDES) {
                if (results.containsKey(k)) {
                    ordered.put(k, results.get(k));
                }
            }
            ProfileResult p = new ProfileResult(model.name(), w.name(), w.origin(), examples, ordered,
                    check == null ? LossCheck.of(Map.of(), s.lossTolerance()) : check, tokensPerStep(timed));
            progress.accept(String.format(Locale.ROOT, "  samples/s:%s; ours(d)/torch(paired) %.2fx, "
                            + "ours(b)/torch(paired) %.2fx", samples(ordered), p.ratio(OURS_D, TORCH_PAIRED),
                    p.ratio(OURS_B, TORCH_PAIRED)));
            return p;
        } finally {
            sessions.forEach(ModeSession::close);
        }
    }

    /**
     * The reason a side failed on a workload, for the table (its first line; the whole message, with the process's
     * stderr, in the log).
     */
    private String failed(Model model, Workload w, Side side, IllegalStateException e) {
        String message = String.valueOf(e.getMessage());
        String first = message.lines().findFirst().orElse("");
        LOG.warn("{} / {}: {} failed and is left out: {}", model.name(), w.name(), side.key(), message);
        String why = "failed: " + first + (first.contains("exit 137") ? " (the kernel's out-of-memory kill)" : "");
        progress.accept("  " + side.key() + " " + why);
        return why;
    }

    private static String samples(Map<String, SideResult> r) {
        StringBuilder b = new StringBuilder();
        r.forEach((k, v) -> b.append(String.format(Locale.ROOT, " %s %.2f", k, v.samples_per_s())));
        return b.toString();
    }

    /**
     * Mean tokens a timed step processes (rows x row length, padding included) in each layout: PyTorch paired pads
     * to the batch's longest sequence, ours (b) to the next multiple of 64; the packed layouts hold one row.
     */
    private Map<String, Long> tokensPerStep(Workload w) {
        long torchPaired = 0;
        long torchPacked = 0;
        StepCost b = StepCost.ZERO;
        StepCost d = StepCost.ZERO;
        List<List<TokenizedExample>> steps = w.steps().subList(s.warmup(), s.warmup() + s.steps());
        for (List<TokenizedExample> step : steps) {
            int longest = 0;
            int used = 0;
            for (TokenizedExample e : step) {
                for (int r = 0; r < e.responseCount(); r++) {
                    int len = e.promptLength() + e.responseLength(r);
                    longest = Math.max(longest, len);
                    used += len;
                }
            }
            torchPaired += (long) longest * 2 * step.size();
            torchPacked += ModeBatches.roundUp(used, 64);
            b = b.plus(StepCost.of(ModeBatches.build(step, TrainingMode.B, ModeBatches.ONE_ROW)));
            d = d.plus(StepCost.of(ModeBatches.build(step, TrainingMode.D, ModeBatches.ONE_ROW)));
        }
        Map<String, Long> m = new LinkedHashMap<>();
        int n = steps.size();
        m.put(TORCH_PAIRED, torchPaired / n);
        m.put(TORCH_PACKED, torchPacked / n);
        m.put(OURS_B, b.rowTokens() / n);
        m.put(OURS_D, d.rowTokens() / n);
        return m;
    }
}
