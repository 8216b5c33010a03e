package org.prefixshare.bench.training;

import org.prefixshare.bench.Timing;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.data.workload.SyntheticWorkload;
import org.prefixshare.data.workload.WorkloadProfile;
import org.prefixshare.data.workload.WorkloadStats;
import org.prefixshare.hf.HfConfig;
import org.prefixshare.io.Progress;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.WeightSource;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.pack.ReferenceLogps;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * {@code bench training}: DPO training throughput of the five {@link TrainingMode}s on the same model and the same
 * examples per optimiser step, for workloads shaped like the paper's six data sets (or a real data set), with the
 * ideal speedups ({@link Ideal}) and the paper's numbers beside ours.
 *
 * <p>Each mode runs in a JVM of its own by default ({@link TrainingWorker}: same java, JVM options and class path),
 * one JVM per mode for the whole run, so the peak RSS and off-heap figures belong to that mode alone (the worker
 * restarts its peak for each workload) and the JIT warms up once per mode rather than once per workload;
 * {@code inProcess} runs them here one after another (then RSS peaks are increments over earlier modes and only the
 * off-heap peak, which the probe resets per mode, is per mode).
 *
 * <p>Every mode trains the whole model, or with {@link Settings#lora} LoRA adapters on a frozen base (as
 * {@code train --lora-r} does); {@link Settings#loraVsFull} then times (d) with full fine-tuning too, taking turns with
 * (d) and (e), for the ratio of LoRA's step over full fine-tuning's on the same model and examples.
 */
public final class TrainingBenchmark {

    private static final Logger LOG = LoggerFactory.getLogger(TrainingBenchmark.class);

    /**
     * How to run.
     *
     * @param scaleLabel      "quick" / "full" / "custom", printed with the scale
     * @param lengthDivisor   every length of the paper's profiles is divided by this
     * @param examplesPerStep least examples (preference pairs) per optimiser step, every mode
     * @param tokensPerStep   target paired tokens per step: a profile's steps hold
     *                        {@code max(examplesPerStep, ceil(tokensPerStep / (2 x median overall length)))} examples
     *                        (0: exactly examplesPerStep), so short-sequence profiles are not timed on steps so small
     *                        that SameDiff's fixed per-op cost (~0.1 ms per op, ~300 ops) outweighs the tokens
     * @param warmup          untimed steps per mode
     * @param steps           timed steps of modes (b) and (c)
     * @param packedSteps     timed steps of modes (d) and (e): their ratio is the one compared with the paper's,
     *                        and their steps are the shortest, so more of them cost little
     * @param repeats         passes over the timed steps per mode; a step's fastest run counts (a step that a
     *                        stall of the machine hit counts its run from another pass, seconds away)
     * @param packLength      row length of the packed modes (d), (e), first-fit-decreasing, at least every
     *                        workload's longest document; or {@link ModeBatches#ONE_ROW}: each step's documents in
     *                        one row padded to a multiple of 64, the analogue of the varlen packing behind the paper's
     *                        packed numbers
     * @param modelName       name of the model shape (printed)
     * @param model           the model
     * @param modes           modes to run (b is needed for the speedups over paired)
     * @param inProcess       run modes in this JVM rather than one child JVM each
     * @param seed            seed of the workload and the model
     * @param threads         OpenMP threads of every mode's JVM ({@code OMP_NUM_THREADS}: ND4J's ops, OpenBLAS and
     *                        the attention kernels), or 0 to inherit this process's environment; ignored in process
     * @param lora            LoRA adapters every mode trains on a frozen base ({@link #benchLora}), or null for full
     *                        fine-tuning
     * @param loraVsFull      with LoRA, time (d) with full fine-tuning too ({@link Variant#full}), taking turns with
     *                        (d) and (e)
     */
    public record Settings(String scaleLabel, double lengthDivisor, int examplesPerStep, int tokensPerStep,
                           int warmup, int steps, int packedSteps, int repeats, int packLength,
                           String modelName, DecoderConfig model, List<TrainingMode> modes, boolean inProcess,
                           long seed, int threads, LoraConfig lora, boolean loraVsFull) {
        public Settings {
            if (!(lengthDivisor >= 1) || examplesPerStep < 1 || tokensPerStep < 0 || warmup < 0 || steps < 1
                    || packedSteps < 1 || repeats < 1 || packLength < 0 || threads < 0) {
                throw new IllegalArgumentException("need lengthDivisor >= 1, examplesPerStep >= 1, tokensPerStep >= 0, "
                        + "warmup >= 0, steps >= 1, packedSteps >= 1, repeats >= 1, packLength >= 0, threads >= 0; got "
                        + lengthDivisor + ", " + examplesPerStep + ", " + tokensPerStep + ", " + warmup + ", " + steps
                        + ", " + packedSteps + ", " + repeats + ", " + packLength + ", " + threads);
            }
            if (loraVsFull && (lora == null || !modes.contains(TrainingMode.D))) {
                throw new IllegalArgumentException("LoRA against full fine-tuning times mode (d) both ways: it needs "
                        + "LoRA (--lora-r) and mode d (--modes)");
            }
            modes = List.copyOf(modes);
        }

        /** The adapters a variant trains: none in full fine-tuning. */
        public LoraConfig lora(Variant v) {
            return v.full() ? null : lora;
        }

        /** The modes of a group that this run measures, with (d)'s full fine-tuning beside (d) if asked for. */
        List<Variant> variants(List<TrainingMode> group) {
            List<Variant> out = new ArrayList<>();
            for (TrainingMode m : group) {
                if (modes.contains(m)) {
                    out.add(new Variant(m, false));
                }
            }
            if (loraVsFull && out.contains(new Variant(TrainingMode.D, false))) {
                out.add(new Variant(TrainingMode.D, true));
            }
            return out;
        }

        /** Timed steps of a mode: (a) at most {@link #REFERENCE_STEPS}, (d) and (e) packedSteps, else steps. */
        public int timedSteps(TrainingMode m) {
            return switch (m) {
                case A -> Math.min(REFERENCE_STEPS, steps);
                case D, E -> packedSteps;
                default -> steps;
            };
        }

        /** Steps every workload holds after its warm-up. */
        public int maxTimedSteps() {
            return Math.max(steps, packedSteps);
        }

        /** Examples per step of a workload whose (scaled) median overall length is given. */
        public int examplesPerStep(double medianOverall) {
            int byTokens = tokensPerStep == 0 ? 0 : (int) Math.ceil(tokensPerStep / (2 * Math.max(1, medianOverall)));
            return Math.max(examplesPerStep, byTokens);
        }
    }

    /** Suffix of the key of a mode trained with full fine-tuning in a LoRA run ({@code d_full}). */
    public static final String FULL_SUFFIX = "_full";

    /**
     * A mode as it trains in this run: with the run's LoRA adapters (or the whole model when the run has none), or,
     * {@code full}, the whole model in a LoRA run, beside it.
     */
    public record Variant(TrainingMode mode, boolean full) {

        /** The mode's key, with {@link #FULL_SUFFIX} when full fine-tuning beside LoRA. */
        public String key() {
            return full ? mode.key() + FULL_SUFFIX : mode.key();
        }

        /** What it does, for the log. */
        public String description() {
            return full ? mode.description() + ", full fine-tuning" : mode.description();
        }
    }

    /**
     * The bench's LoRA: rank r on {@code targets} ({@code all-linear} or PEFT module names), alpha 2r (a common
     * choice; the scale does not change the work), no dropout.
     */
    public static LoraConfig benchLora(int r, String targets) {
        return new LoraConfig(r, 2.0 * r, 0, LoraConfig.parseTargets(targets), false, "");
    }

    /** A workload to measure: a name and the steps' examples, plus its statistics. */
    public record Workload(String name, List<List<TokenizedExample>> steps, WorkloadStats stats, int packLength,
                           String origin) {

        /** Examples per optimiser step. */
        public int examplesPerStep() {
            return steps.get(0).size();
        }
    }

    /**
     * One profile's figures; the JSON keys of the issue plus the context the report prints.
     */
    public record ProfileResult(String name, String origin, WorkloadStats stats, int packLength, int examplesPerStep,
                                Map<String, ModeResult> modes, Map<String, StepCost> costs, long labels,
                                double ideal_shared, double ideal_shared_packed,
                                double ideal_packed_vs_paired_packed, double cost_ideal_shared,
                                double cost_ideal_shared_packed, double cost_ideal_packed_vs_paired_packed,
                                double attention_share_b, double expected_shared, double expected_shared_packed,
                                double expected_packed_vs_paired_packed, double speedup_shared,
                                double speedup_shared_packed, double speedup_packed_vs_paired_packed,
                                double paper_shared, double paper_packed, double speedup_lora_over_full) {
    }

    /** The whole run. */
    public record Result(Settings settings, List<ProfileResult> profiles, double seconds) {
    }

    /**
     * Modes timed side by side, step by step. Pairs rather than all four: with four JVMs taking turns, each waited
     * ~3 s between its steps and came back slower (HH-RLHF (c)/(b) 1.77 in a group of four, 1.99 as a pair, ideal
     * 2.00), most likely the memory the guest hands back meanwhile being faulted in again.
     */
    static final List<List<TrainingMode>> MEASURED_TOGETHER = List.of(List.of(TrainingMode.A),
            List.of(TrainingMode.B, TrainingMode.C), List.of(TrainingMode.D, TrainingMode.E));

    /** Timed steps of mode (a), the dense reference (at most; it runs the first ones of the others). */
    public static final int REFERENCE_STEPS = 1;

    private final Settings s;
    private final Consumer<String> progress;
    private final Consumer<String> status;
    /** Where {@link #run} is (workload, modes, step) and how long is left: lines for {@code status}. */
    private Progress runProgress = Progress.NONE;
    private String where = "";

    public TrainingBenchmark(Settings settings, Consumer<String> progress) {
        this(settings, progress, line -> { });
    }

    /**
     * @param progress the run's header and result lines (standard output)
     * @param status   what is running and how long is left, a line at most every 10 s (standard error)
     */
    public TrainingBenchmark(Settings settings, Consumer<String> progress, Consumer<String> status) {
        this.s = settings;
        this.progress = progress;
        this.status = status;
    }

    /** Work units of a run, for its progress: warm-up, re-warm and timed steps of every mode. */
    private long units(List<Workload> workloads) {
        long n = 0;
        for (Workload w : workloads) {
            for (List<TrainingMode> group : MEASURED_TOGETHER) {
                List<Variant> selected = s.variants(group);
                int passes = group.contains(TrainingMode.A) ? 1 : s.repeats();
                for (Variant v : selected) {
                    TrainingMode m = v.mode();
                    n += (m == TrainingMode.A ? Math.min(1, s.warmup()) : s.warmup())
                            + (selected.size() > 1 ? 1 : 0) + (long) s.timedSteps(m) * passes;
                }
            }
        }
        return n;
    }

    /** The six paper profiles (or those named), synthetic, at this run's scale. */
    public List<Workload> syntheticWorkloads(List<WorkloadProfile> profiles) {
        List<Workload> out = new ArrayList<>();
        for (WorkloadProfile full : profiles) {
            WorkloadProfile p = full.scaledDown(s.lengthDivisor());
            int perStep = s.examplesPerStep(p.medianOverall());
            int total = perStep * (s.warmup() + s.maxTimedSteps());
            int maxDoc = (int) Math.ceil(3 * p.medianOverall());
            SyntheticWorkload gen = new SyntheticWorkload(p, SyntheticWorkload.DEFAULT_SIGMA, maxDoc);
            List<TokenizedExample> ex = gen.generate(total, s.model().vocabSize(), s.seed() ^ full.name().hashCode(),
                    0);
            WorkloadStats stats = WorkloadStats.of(ex);
            out.add(new Workload(full.name(), split(ex, perStep), stats, packLength(full.name(), ex),
                    String.format("synthetic, log-normal sigma %.2f, documents <= %d tokens, median P %.1f C %.1f",
                            gen.sigma(), maxDoc, stats.medianPrompt(), stats.medianResponse())));
        }
        return out;
    }

    /**
     * A real data set's examples (already tokenised and truncated) at this run's scale: a seeded sample of the
     * examples the run needs, every prompt and response cut to its first {@code ceil(len / lengthDivisor)} tokens,
     * token ids folded into the model's vocabulary (only lengths matter for throughput).
     */
    public Workload realWorkload(String name, List<TokenizedExample> all) {
        WorkloadStats full = WorkloadStats.of(all);
        int perStep = s.examplesPerStep(full.medianOverall() / s.lengthDivisor());
        int total = perStep * (s.warmup() + s.maxTimedSteps());
        List<TokenizedExample> pool = new ArrayList<>(all);
        java.util.Collections.shuffle(pool, new java.util.Random(s.seed()));
        List<TokenizedExample> picked = new ArrayList<>(total);
        int vocab = s.model().vocabSize();
        for (int i = 0; i < total; i++) {
            TokenizedExample e = pool.get(i % pool.size());
            List<int[]> rs = new ArrayList<>();
            for (int[] r : e.responses()) {
                rs.add(fold(cut(r), vocab));
            }
            picked.add(new TokenizedExample(i, e.source(), fold(cut(e.prompt()), vocab), rs, 0));
        }
        WorkloadStats scaled = WorkloadStats.of(picked);
        return new Workload(name, split(picked, perStep), scaled, packLength(name, picked),
                String.format("%d examples, median overall %.0f, ratio %.2f before scaling", all.size(),
                        full.medianOverall(), full.medianRatio()));
    }

    private int[] cut(int[] ids) {
        int n = ids.length == 0 ? 0 : Math.max(1, (int) Math.ceil(ids.length / s.lengthDivisor()));
        return java.util.Arrays.copyOf(ids, n);
    }

    private static int[] fold(int[] ids, int vocab) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.floorMod(ids[i], vocab);
        }
        return out;
    }

    private static List<List<TokenizedExample>> split(List<TokenizedExample> ex, int perStep) {
        List<List<TokenizedExample>> steps = new ArrayList<>();
        for (int i = 0; i + perStep <= ex.size(); i += perStep) {
            steps.add(List.copyOf(ex.subList(i, i + perStep)));
        }
        return steps;
    }

    /**
     * The packed modes' row length for these examples: {@link ModeBatches#ONE_ROW} as is, else the settings' length,
     * which must hold the longest document (a document is never split across rows).
     */
    private int packLength(String workload, List<TokenizedExample> ex) {
        if (s.packLength() == ModeBatches.ONE_ROW) {
            return ModeBatches.ONE_ROW;
        }
        int longest = 0;
        for (TokenizedExample e : ex) {
            longest = Math.max(longest, e.sharedLength());  // a paired sequence is never longer
        }
        if (longest > s.packLength()) {
            throw new IllegalArgumentException(String.format("pack length %d is shorter than the longest document "
                    + "of workload %s (%d tokens at this scale); give at least %d, or 0 for one row per step",
                    s.packLength(), workload, longest, longest));
        }
        return s.packLength();
    }

    private static String modeKeys(List<Variant> variants) {
        StringBuilder b = new StringBuilder();
        for (Variant v : variants) {
            b.append(b.length() == 0 ? "" : "+").append('(').append(v.key()).append(')');
        }
        return b.toString();
    }

    /** Measures every workload in every mode. */
    public Result run(List<Workload> workloads) throws Exception {
        long start = System.nanoTime();
        List<ProfileResult> out = new ArrayList<>();
        Map<String, WorkerProcess> workers = new HashMap<>();
        runProgress = new Progress("bench training", units(workloads), status, 10);
        int index = 0;
        try {
            for (Workload w : workloads) {
                where = String.format("%s (%d/%d)", w.name(), ++index, workloads.size());
                progress.accept(String.format("%s: %s; %d steps of %d examples (%d warm-up), packed: %s",
                        w.name(), w.origin(), w.steps().size(), w.examplesPerStep(), s.warmup(),
                        TrainingReport.packing(w.packLength())));
                // by variant key, in group order: a, b, c, d, e (then d_full)
                Map<String, ModeResult> results = new LinkedHashMap<>();
                Map<String, double[]> stepMs = new LinkedHashMap<>();
                List<Variant> ran = new ArrayList<>();
                // Modes whose ratio the acceptance compares take turns step by step: (b) with (c), (d) with (e)
                // (and (d) with full fine-tuning in a LoRA run that compares them).
                // (a) is 5-20x slower and only gives the (a)->(b) context figure: it runs alone, one warm-up step
                // and the first REFERENCE_STEPS timed steps of the others.
                for (List<TrainingMode> group : MEASURED_TOGETHER) {
                    List<Variant> selected = s.variants(group);
                    if (selected.equals(List.of(new Variant(TrainingMode.A, false)))) {
                        measureReference(selected.get(0), w, stepMs, workers, results);
                    } else if (!selected.isEmpty()) {
                        results.putAll(measureTogether(selected, w, stepMs, workers));
                    }
                    ran.addAll(selected);
                }
                for (Variant v : ran) {
                    ModeResult r = results.get(v.key());
                    if (r != null) {
                        progress.accept(String.format("  %-8s %-70s %8.2f samples/s  step %8.0f ms  outside heap "
                                        + "%6.0f MB  RSS %7.0f MB  loss %.4f", "(" + v.key() + ")", v.description(),
                                r.samples_per_s(), r.step_ms(), r.offheap_peak_mb(), r.peakMemMb(), r.last_loss()));
                    }
                }
                out.add(summarise(w, results, stepMs));
            }
        } finally {
            workers.values().forEach(WorkerProcess::close);
        }
        return new Result(s, out, (System.nanoTime() - start) / 1e9);
    }

    /**
     * Mode (a), which only gives the (a)->(b) context figure. Its dense T x T activations outgrow a small machine at
     * full scale (Capybara / 2: 20 GB resident; MetaMath-DPO / 2: killed on 24 GB), so a failure is reported and the
     * run goes on without it. Its worker does not stay for the next workload: its 10-70 s steps gain nothing from a
     * warm JIT, and its T x T activations must not stay resident beside the other workers.
     */
    private void measureReference(Variant reference, Workload w, Map<String, double[]> stepMs,
                                  Map<String, WorkerProcess> workers, Map<String, ModeResult> measured)
            throws Exception {
        try {
            measured.putAll(measureTogether(List.of(reference), w, stepMs, workers));
        } catch (IllegalStateException e) {
            String message = String.valueOf(e.getMessage());
            String first = message.lines().findFirst().orElse("");
            // The worker's own stack trace follows the first line: its first exception or error names the cause.
            String cause = message.lines().skip(1).map(String::trim)
                    .filter(l -> l.contains("Exception") || l.contains("Error")).findFirst().orElse("");
            String why = first.contains("exit 137") ? " (exit 137 is the kernel's out-of-memory kill: the dense "
                    + "reference needs rows x heads x T^2 floats per layer many times over)" : "";
            LOG.warn("{}: mode (a) failed and is left out: {} {}", w.name(), first, cause);
            progress.accept("  (a) left out: " + first + (cause.isEmpty() ? "" : " " + cause) + why);
        } finally {
            WorkerProcess worker = workers.remove(reference.key());
            if (worker != null) {
                worker.close();
            }
        }
    }

    /**
     * Costs, ideals and speedups of one workload. A speedup is the ratio of two modes' total times over the same
     * timed steps ({@link Timing#totalRatio}), i.e. of their throughputs, as its token ideal is the ratio of their
     * tokens over those steps: (c)/(b) over the steps of (b) and (c), (d)/(e) over those of (d) and (e), both timed
     * side by side (the same examples, back to back); (d)/(b), whose modes ran in different groups, over the steps
     * both timed.
     *
     * @param stepMs each mode's timed step milliseconds, in step order, by mode key
     */
    ProfileResult summarise(Workload w, Map<String, ModeResult> results, Map<String, double[]> stepMs) {
        Map<String, StepCost> costs = new LinkedHashMap<>();
        for (TrainingMode m : TrainingMode.values()) {
            costs.put(m.key(), cost(w, m, s.timedSteps(m)));
        }
        int shared = s.timedSteps(TrainingMode.B);
        int packed = s.timedSteps(TrainingMode.D);
        int both = Math.min(shared, packed);
        StepCost b = costs.get("b");
        StepCost c = costs.get("c");
        StepCost d = costs.get("d");
        StepCost e = costs.get("e");
        // both is one of the two counts: only the other mode's cost is summed again over fewer steps
        StepCost bBoth = both == shared ? b : cost(w, TrainingMode.B, both);
        StepCost dBoth = both == packed ? d : cost(w, TrainingMode.D, both);
        long labels = b.labels();
        long labelsPacked = d.labels();
        long labelsBoth = bBoth.labels();
        DecoderConfig cfg = s.model();
        double costShared = Ideal.costModel(cfg, b, c, labels);
        double costSharedPacked = Ideal.costModel(cfg, bBoth, dBoth, labelsBoth);
        double costPacked = Ideal.costModel(cfg, e, d, labelsPacked);
        return new ProfileResult(w.name(), w.origin(), w.stats(), w.packLength(), w.examplesPerStep(), results, costs,
                labels,
                Ideal.tokens(b, c), Ideal.tokens(bBoth, dBoth), Ideal.tokens(e, d),
                costShared, costSharedPacked, costPacked, Ideal.attentionShare(cfg, b, labels),
                expected(costShared, results, stepMs, "c", "b", shared),
                expected(costSharedPacked, results, stepMs, "d", "b", both),
                expected(costPacked, results, stepMs, "d", "e", packed),
                speedup(stepMs, "c", "b", shared), speedup(stepMs, "d", "b", both), speedup(stepMs, "d", "e", packed),
                PaperNumbers.shared(w.name()), PaperNumbers.packed(w.name()),
                speedup(stepMs, "d", "d" + FULL_SUFFIX, packed));
    }

    /** Cost of a mode's batches over the first n timed steps. */
    private StepCost cost(Workload w, TrainingMode m, int n) {
        StepCost c = StepCost.ZERO;
        for (List<TokenizedExample> step : timedSteps(w, n)) {
            c = c.plus(StepCost.of(ModeBatches.build(step, m, w.packLength())));
        }
        return c;
    }

    private List<List<TokenizedExample>> timedSteps(Workload w, int n) {
        return w.steps().subList(s.warmup(), s.warmup() + n);
    }

    /**
     * {@link Ideal#withFixedCost} of {@code faster} over {@code baseline}: the faster mode's mean step over the first n
     * timed steps and both modes' fixed step costs; NaN when either did not run.
     */
    private static double expected(double costIdeal, Map<String, ModeResult> results, Map<String, double[]> stepMs,
                                   String faster, String baseline, int n) {
        double[] f = stepMs.get(faster);
        ModeResult fr = results.get(faster);
        ModeResult br = results.get(baseline);
        if (f == null || fr == null || br == null) {
            return Double.NaN;
        }
        double mean = Arrays.stream(f, 0, n).average().orElse(Double.NaN);
        return Ideal.withFixedCost(costIdeal, mean, fr.fixed_step_ms(), br.fixed_step_ms());
    }

    /** Speedup of {@code faster} over {@code baseline} over the first n timed steps; NaN when either did not run. */
    private static double speedup(Map<String, double[]> stepMs, String faster, String baseline, int n) {
        double[] f = stepMs.get(faster);
        double[] b = stepMs.get(baseline);
        return f == null || b == null ? Double.NaN
                : Timing.totalRatio(Arrays.copyOf(b, n), Arrays.copyOf(f, n));
    }

    /**
     * Prepares every mode (one after another, each in its worker JVM unless in process), lets each run one more
     * untimed step in turn ({@link ModeRunner#rewarm()}), then runs the timed steps in {@link Settings#repeats} passes
     * of rounds: round t runs step t of every mode once, starting with a different mode each round and pass, and a
     * step's fastest run counts. Same examples, same machine state: the ratios between modes do not depend on when each
     * mode happened to run. Passes rather than runs in a row: this machine's vCPUs slow down by 10-40% for a second
     * or so now and then, which hit both runs of a step in a row about as often as one; a pass later (seconds away)
     * the runs are independent.
     *
     * @param workers each variant's worker JVM, started here at its first workload and kept for the run
     */
    private Map<String, ModeResult> measureTogether(List<Variant> variants, Workload w, Map<String, double[]> stepMs,
                                                    Map<String, WorkerProcess> workers) throws Exception {
        List<ModeSession> sessions = new ArrayList<>();
        try {
            int timed = 0;
            for (Variant v : variants) {
                TrainingMode m = v.mode();
                int warm = m == TrainingMode.A ? Math.min(1, s.warmup()) : s.warmup();
                timed = s.timedSteps(m);  // the same for every mode of a group
                List<List<TokenizedExample>> steps = new ArrayList<>(w.steps().subList(s.warmup() - warm,
                        s.warmup() + timed));
                if (m == TrainingMode.A && warm > 0) {
                    // The dense reference takes 10-30 s a step; its warm-up only has to compile the code paths, so it
                    // runs on one example (its timed step has the full count like every mode).
                    steps.set(0, steps.get(0).subList(0, 1));
                }
                runProgress.status(String.format("%s: preparing (%s), %d warm-up steps", where, v.key(), warm));
                if (s.inProcess()) {
                    sessions.add(ModeSession.inProcess(ModeRunner.prepare(steps, warm, m, s.model(), w.packLength(),
                            WeightSource.random(s.seed(), DecoderModel.INIT_STD),
                            ModeRunner.options(s.lora(v), s.model(), s.seed()), ReferenceLogps.NONE, null)));
                } else {
                    WorkerProcess worker = workers.get(v.key());
                    if (worker == null) {
                        worker = WorkerProcess.start(m, s.threads());
                        workers.put(v.key(), worker);
                    }
                    sessions.add(worker.prepare(steps, warm, HfConfig.of(s.model()).toJson(), w.packLength(), s.seed(),
                            null, ReferenceLogps.NONE, s.lora(v)));
                }
                runProgress.advance(warm, String.format("%s: (%s) prepared", where, v.key()));
            }
            int n = sessions.size();
            if (n > 1) {
                for (ModeSession session : sessions) {
                    session.rewarm();
                    runProgress.advance(1, where + ": re-warming");
                }
            }
            double[][] ms = new double[n][timed];
            for (double[] m : ms) {
                Arrays.fill(m, Double.POSITIVE_INFINITY);
            }
            // (a) takes 10-30 s a step and is not part of a ratio: one pass
            int passes = variants.get(0).mode() == TrainingMode.A ? 1 : s.repeats();
            for (int pass = 0; pass < passes; pass++) {
                for (int t = 0; t < timed; t++) {
                    StringBuilder line = new StringBuilder();
                    for (int k = 0; k < n; k++) {
                        int i = (t + pass + k) % n;
                        double took = sessions.get(i).step(t);
                        ms[i][t] = Math.min(ms[i][t], took);
                        runProgress.advance(1, String.format("%s: %s pass %d/%d, timed step %d/%d", where,
                                modeKeys(variants), pass + 1, passes, t + 1, timed));
                        line.append(String.format(" (%s) %.0f ms", variants.get(i).key(), took));
                    }
                    LOG.debug("{} timed step {}{}:{}", w.name(), t + 1, pass == 0 ? "" : " again", line);
                }
            }
            Map<String, ModeResult> out = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                out.put(variants.get(i).key(), sessions.get(i).finish());
                stepMs.put(variants.get(i).key(), ms[i]);
            }
            return out;
        } finally {
            sessions.forEach(ModeSession::close);
        }
    }
}
