package org.prefixshare.bench.training;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.schedule.FixedSchedule;
import org.prefixshare.bench.Timing;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.layout.SequenceInfo;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.ArrayCache;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.WeightSource;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.pack.ReferenceLogps;
import org.prefixshare.train.AdamW;
import org.prefixshare.train.DpoObjective;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Trains one {@link TrainingMode} in this JVM, one optimiser step at a time, and measures it. One step is what
 * {@link org.prefixshare.train.DpoTrainer} does: the batch's placeholders, {@code calculateGradientsAndOutputs} of
 * the DPO sigmoid loss, and an Adam update of every trainable parameter: the whole model, or with LoRA the adapters
 * on a frozen base ({@link #options}). Reference log-probs are precomputed in DPO (not part of a training step): the
 * caller's ({@code bench peers}, which compares losses with PyTorch), else zeros. Batches are built before timing (a
 * real run builds them on a prefetch thread). Before each step, outside the timed region, a {@code System.gc()} releases the previous step's
 * off-heap arrays so the off-heap peak is one step's working set, not garbage waiting for a collection.
 *
 * <p>{@link #prepare} builds and warms up; {@link #timedStep} runs timed step t; {@link #result} summarises. The
 * caller decides when each step runs, so that several modes can take turns step by step ({@link TrainingBenchmark}).
 */
public final class ModeRunner implements AutoCloseable {

    /**
     * Least time spent in warm-up steps once this JVM has trained before (a later workload: SameDiff's code paths
     * are compiled already; the new shapes only need a pass or two).
     */
    static final long MIN_WARMUP_NANOS = 2_000_000_000L;
    /**
     * Least time spent in warm-up steps by the first workload of a JVM. C2 keeps compiling SameDiff's code for tens of
     * seconds of a JVM's life (-XX:+LogCompilation), and until then the per-op Java work inflates every step by a
     * fixed amount: HH-RLHF (d) steps fell from 480 to 270 ms over the first ~8 s of a worker, which lowers a
     * speedup between two modes whose steps share that fixed cost. A long training run lives in the compiled state.
     */
    static final long FIRST_WARMUP_NANOS = 10_000_000_000L;
    /** At most this many passes over the warm-up batches. */
    static final int MAX_WARMUP_REPEATS = 10;
    /**
     * Steps on the fixed-cost probe's one-row batch that the first workload of a JVM runs before its warm-up. C2
     * compiles a method after thousands of invocations, and SameDiff runs its per-op Java code ~100 times a step, so
     * the JIT needs steps rather than seconds: after the time-based warm-up alone, Capybara's ~500 ms steps (~20 of
     * them) left the fixed step cost at 45-49 ms, against 32-33 ms in the worker's next workload.
     */
    static final int JIT_WARMUP_STEPS = 200;
    /**
     * At most this long in those probe steps. The bench model's take ~7-10 s (a probe step costs ~33-49 ms); a larger
     * model's probe step is mostly native work the size of its weights (Adam over them, the LM head: ~0.3 s for
     * {@link BenchModels#large()}, 200 of them a minute or more per worker), where the JIT's state hardly shows.
     */
    static final long MAX_JIT_WARMUP_NANOS = 30_000_000_000L;
    /** Steps of the fixed-cost probe ({@link ModeResult#fixed_step_ms}), run after the warm-up. */
    static final int FIXED_COST_STEPS = 20;
    /** Row length of the fixed-cost probe's batch. */
    static final int FIXED_COST_ROW = 8;
    /** Whether a ModeRunner of this JVM has warmed up before. */
    private static final AtomicBoolean JVM_WARMED_UP = new AtomicBoolean();

    private final TrainingMode mode;
    private final DecoderConfig config;
    private final List<LayoutBatch> batches;
    private final int warmup;
    private final int examples;
    private final DpoObjective objective;
    private final SameDiff sd;
    private final List<String> params;
    private final Map<String, INDArray> values;
    private final AdamW optimiser;
    private final List<String> outputs;
    private final long trainableParams;
    private final Consumer<String> progress;
    private final MemoryProbe probe = new MemoryProbe();
    private final double[] ms;
    private final Map<String, INDArray> initialWeights = new LinkedHashMap<>();
    private final Map<String, INDArray> initialState = new LinkedHashMap<>();
    private int executed;
    private int timedDone;
    private double firstLoss = Double.NaN;
    private double lastLoss = Double.NaN;
    private double fixedStepMs = Double.NaN;

    private ModeRunner(List<List<TokenizedExample>> steps, int warmup, TrainingMode mode, DecoderConfig config,
                       int packLength, WeightSource weights, DecoderModel.Options options, ReferenceLogps references,
                       Consumer<String> progress) {
        if (steps.size() <= warmup) {
            throw new IllegalArgumentException("need more steps (" + steps.size() + ") than warm-up steps ("
                    + warmup + ")");
        }
        PrefixShareOps.init();
        this.mode = mode;
        this.config = config;
        this.warmup = warmup;
        this.progress = progress;
        this.examples = steps.get(warmup).size();  // of the timed steps (a warm-up step may be smaller)
        this.batches = new ArrayList<>(steps.size());
        for (List<TokenizedExample> s : steps) {
            batches.add(ModeBatches.build(s, mode, packLength, references));
        }
        DecoderModel model = DecoderModel.create(config, weights, mode.implementation(), options);
        this.objective = new DpoObjective(model, LossConfig.defaults());
        this.sd = model.sameDiff();
        this.params = model.parameterNames();
        this.values = model.parameters();
        this.trainableParams = model.trainableParameterCount();
        this.optimiser = new AdamW(values, new FixedSchedule(1e-5), 0);
        this.outputs = List.of(objective.lossName());
        this.ms = new double[steps.size() - warmup];
    }

    /**
     * Builds the batches and the model and runs the warm-up: in the JVM's first workload {@link #JIT_WARMUP_STEPS}
     * steps of the fixed-cost probe's one-row batch, then the warm-up batches, repeated until the JIT has had
     * {@link #FIRST_WARMUP_NANOS} in the JVM's first workload, {@link #MIN_WARMUP_NANOS} in later ones (a cheap
     * mode's three steps take a second or two, too little for C2), at most {@link #MAX_WARMUP_REPEATS} passes.
     *
     * @param steps      examples of each step, warm-up steps first (all modes get the same lists)
     * @param warmup     untimed leading steps
     * @param mode       the layout and attention
     * @param config     the model
     * @param packLength row length of packed modes
     * @param seed       model seed
     * @param progress   per-step lines (may be null)
     */
    public static ModeRunner prepare(List<List<TokenizedExample>> steps, int warmup, TrainingMode mode,
                                     DecoderConfig config, int packLength, long seed, Consumer<String> progress) {
        return prepare(steps, warmup, mode, config, packLength, WeightSource.random(seed, DecoderModel.INIT_STD),
                DecoderModel.Options.FULL, ReferenceLogps.NONE, progress);
    }

    /**
     * As {@link #prepare(List, int, TrainingMode, DecoderConfig, int, long, Consumer)} with the initial weights from
     * {@code weights} (e.g. a Hugging Face directory), trained as {@code options} say (full fine-tuning, or LoRA:
     * {@link #options}), and the reference log-probs of {@code references} ({@link ReferenceLogps#NONE}: zeros).
     */
    public static ModeRunner prepare(List<List<TokenizedExample>> steps, int warmup, TrainingMode mode,
                                     DecoderConfig config, int packLength, WeightSource weights,
                                     DecoderModel.Options options, ReferenceLogps references,
                                     Consumer<String> progress) {
        ModeRunner r = new ModeRunner(steps, warmup, mode, config, packLength, weights, options, references,
                progress);
        // The dense reference (a) is all native T x T work: the JIT's state does not show in its steps, and its
        // warm-up does not count as the JVM's.
        boolean firstInJvm = mode != TrainingMode.A && !JVM_WARMED_UP.getAndSet(true);
        long minNanos = firstInJvm ? FIRST_WARMUP_NANOS : MIN_WARMUP_NANOS;
        // Warm-up runs as many passes as its time needs, which differs by mode; the timed steps start from the
        // initial weights and optimiser state again, so every mode trains the same steps from the same state and
        // their losses agree (a check that the layouts compute the same model).
        r.values.forEach((k, v) -> r.initialWeights.put(k, v.dup()));
        r.initialState.putAll(r.optimiser.snapshot());
        LayoutBatch probeBatch = mode == TrainingMode.A ? null : fixedCostBatch(steps.get(0).get(0), mode);
        long jitStart = System.nanoTime();
        for (int w = 0; firstInJvm && w < JIT_WARMUP_STEPS && System.nanoTime() - jitStart < MAX_JIT_WARMUP_NANOS;
             w++) {
            r.step(probeBatch, r.references(probeBatch));
        }
        long warmStart = System.nanoTime();
        for (int w = 0; warmup > 0 && (w < warmup || (w < MAX_WARMUP_REPEATS * warmup
                && System.nanoTime() - warmStart < minNanos)); w++) {
            r.run(r.batches.get(w % warmup), "warm-up " + (w + 1));
        }
        if (probeBatch != null) {
            // No System.gc() before these (unlike the timed steps): a one-row step leaves little garbage, and twenty
            // collections would cost more than the probe; the median drops a step that a young collection hits.
            double[] t = new double[FIXED_COST_STEPS];
            for (int i = 0; i < t.length; i++) {
                INDArray refs = r.references(probeBatch);
                long start = System.nanoTime();
                r.step(probeBatch, refs);
                t[i] = (System.nanoTime() - start) / 1e6;
            }
            r.fixedStepMs = Timing.median(t);
        }
        r.restoreInitialState();
        r.probe.reset();
        r.probe.setActive(false);
        return r;
    }

    /**
     * How the bench trains: full fine-tuning ({@code lora} null), or LoRA adapters initialised as PEFT does from
     * {@code seed} (B zero: the first step's loss is the base model's) on a frozen base stored in the model's own type,
     * without dropout or recompute, as {@code train --lora-r} builds them.
     */
    public static DecoderModel.Options options(LoraConfig lora, DecoderConfig config, long seed) {
        return lora == null ? DecoderModel.Options.FULL
                : DecoderModel.Options.lora(lora, LoraAdapters.initial(seed), config.dataType(), false);
    }

    /**
     * One more untimed warm-up step, just before the first timed step, when other modes prepared in between: a
     * worker that waited idle for them came back with its memory cold (the guest hands idle pages back; the first
     * steps after took up to 1.5x as long in both modes of a pair, which dilutes their ratio). Undone like the
     * warm-up.
     */
    public void rewarm() {
        if (timedDone != 0) {
            throw new IllegalStateException("re-warm comes before the first timed step");
        }
        if (warmup > 0) {
            run(batches.get(warmup - 1), "re-warm");
            restoreInitialState();
        }
    }

    /**
     * The fixed-cost probe's batch: one example cut from {@code e} (its first prompt token and the first token of each
     * response) in one row of {@link #FIXED_COST_ROW} tokens (the packed form of the mode's layout: the unpacked modes
     * would pad the row to 64). Its median step ({@link ModeResult#fixed_step_ms}) is what a step costs whatever its
     * tokens; that part does not shrink with the tokens a layout saves, so it pulls every speedup between two modes
     * towards 1 (README, "What bounds (d)/(e) here"). Every mode but (a) runs the same graph, so the figure differs
     * between modes only by noise.
     */
    private static LayoutBatch fixedCostBatch(TokenizedExample e, TrainingMode mode) {
        List<int[]> responses = new ArrayList<>();
        for (int[] r : e.responses()) {
            responses.add(Arrays.copyOf(r, Math.min(1, r.length)));
        }
        int[] prompt = e.prompt();
        TokenizedExample probe = new TokenizedExample(e.id(), e.source(), Arrays.copyOf(prompt,
                Math.min(1, prompt.length)), responses, 0);
        return ModeBatches.build(List.of(probe), mode.shared() ? TrainingMode.D : TrainingMode.E, FIXED_COST_ROW);
    }

    private void restoreInitialState() {
        initialWeights.forEach((k, v) -> values.get(k).assign(v));
        optimiser.restore(initialState);
        executed = 0;
    }

    /** The model's graph (for listeners such as {@link OpProfile}). */
    public SameDiff sameDiff() {
        return sd;
    }

    /** The loss of the step that ran last (NaN before the first). */
    public double lastLoss() {
        return lastLoss;
    }

    /** Number of timed steps. */
    public int timedSteps() {
        return ms.length;
    }

    /**
     * Runs timed step t and returns its milliseconds: the next new step (0-based, in order) or a repeat of one that
     * has run (another optimiser step on its batch). A step's time is the fastest of its runs.
     */
    public double timedStep(int t) {
        boolean repeat = t < timedDone;
        if (t != timedDone && !repeat) {
            throw new IllegalStateException("timed steps run in order: expected step " + timedDone
                    + (timedDone > 0 ? " or a repeat of 0.." + (timedDone - 1) : "") + ", got " + t);
        }
        probe.setActive(true);
        double took = run(batches.get(warmup + t), (repeat ? "step again " : "step ") + (t + 1) + "/" + ms.length);
        probe.sample();
        probe.setActive(false);
        ms[t] = repeat ? Math.min(ms[t], took) : took;
        if (!repeat) {
            timedDone++;
        }
        return took;
    }

    /**
     * The figures after every timed step has run. samples/s is the examples of one step over the median step time
     * (every timed step holds the same number of examples); the total-time figure is kept beside it.
     */
    public ModeResult result() {
        if (timedDone != ms.length) {
            throw new IllegalStateException(timedDone + " of " + ms.length + " timed steps have run");
        }
        double median = Timing.median(ms);
        double totalMs = Arrays.stream(ms).sum();
        return new ModeResult(mode.key(), examples * 1000.0 / median, (double) examples * ms.length * 1000.0 / totalMs,
                median, Arrays.stream(ms).min().orElse(Double.NaN), ms.length, examples,
                probe.peakOffHeapBytes() / 1048576.0, probe.peakRssBytes() / 1048576.0,
                MemoryProbe.vmHwmBytes() / 1048576.0, false, 0, firstLoss, lastLoss, fixedStepMs, trainableParams);
    }

    /** Prepares, runs every timed step and returns the result (one mode alone). */
    public static ModeResult run(List<List<TokenizedExample>> steps, int warmup, TrainingMode mode,
                                 DecoderConfig config, int packLength, long seed, Consumer<String> progress) {
        try (ModeRunner r = prepare(steps, warmup, mode, config, packLength, seed, progress)) {
            for (int t = 0; t < r.timedSteps(); t++) {
                r.timedStep(t);
            }
            return r.result();
        }
    }

    @Override
    public void close() {
        probe.close();
    }

    /** One optimiser step; returns its milliseconds (the gc before it is not timed). */
    private double run(LayoutBatch batch, String what) {
        INDArray refs = references(batch);
        System.gc();
        long start = System.nanoTime();
        double loss = step(batch, refs);
        double took = (System.nanoTime() - start) / 1e6;
        if (executed == 1) {
            firstLoss = loss;
        }
        lastLoss = loss;
        if (progress != null) {
            progress.accept(String.format("    %s %s: %d rows x %d, %.0f ms, loss %.4f", mode.key(), what,
                    batch.rows().size(), batch.length(), took, loss));
        }
        return took;
    }

    /**
     * The batch's reference log-probs (precomputed in DPO, not part of a training step): those its sequence table
     * carries, else zeros.
     */
    private INDArray references(LayoutBatch batch) {
        double[] refs = batch.sequences().stream().mapToDouble(SequenceInfo::refLogp).toArray();
        return Arrays.stream(refs).anyMatch(Double::isNaN) ? Nd4j.zeros(config.dataType(), refs.length)
                : Nd4j.createFromArray(refs).castTo(config.dataType());
    }

    /** One optimiser step (feeds, gradients, Adam) with these reference log-probs; returns the loss. */
    private double step(LayoutBatch batch, INDArray refs) {
        Map<String, INDArray> feeds = objective.feeds(batch, refs, 0.0);
        long mark = ArrayCache.mark();
        OutAndGrad og = sd.calculateGradientsAndOutputs(feeds, outputs, params);
        optimiser.apply(values, og.getGradients(), executed++);
        double loss = og.getOutputs().get(objective.lossName()).getDouble(0);
        ArrayCache.reclaim(mark); // as DpoTrainer does: the step's arrays go back for the next one
        return loss;
    }
}
