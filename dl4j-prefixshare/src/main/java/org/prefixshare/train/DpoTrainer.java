package org.prefixshare.train;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.loss.BcoRunningMean;
import org.prefixshare.loss.Metric;
import org.prefixshare.model.ArrayCache;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.model.WeightSource;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.pack.IteratorState;
import org.prefixshare.pack.PackConfig;
import org.prefixshare.pack.PreferenceBatchIterator;
import org.prefixshare.pack.ReferenceLogps;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * DPO training over SameDiff on prefix-shared packed batches: Adam (AdamW with weight decay), warm-up then decay,
 * global-norm clipping, gradient accumulation, held-out evaluation, atomic checkpoints with the data cursor and
 * optimiser state (a resumed run continues identically), per-step metrics under TRL's names.
 *
 * <p>The optimiser runs here rather than in {@code sd.fit}: SameDiff 1.0.0-M2.1's training loop has no clipping,
 * accumulation or per-step schedule hooks, and its updater state cannot be checkpointed per parameter.
 */
public final class DpoTrainer {

    private static final Logger log = LoggerFactory.getLogger(DpoTrainer.class);

    /**
     * Final figures of a run.
     *
     * @param stepSeconds mean wall seconds of the optimiser steps this call ran (0 when it ran none)
     */
    public record Result(int steps, Map<String, Object> lastTrain, Map<String, Object> lastEval,
                         double trainSamplesPerSecond, double trainTokensPerSecond, double stepSeconds) {
    }

    private final TrainConfig cfg;
    private final List<TokenizedExample> train;
    private final List<TokenizedExample> eval;
    private final PrintStream terminal;
    private final DecoderModel model;
    private final DpoObjective objective;
    private final DecoderModel liveReference;
    private final ReferenceLogps refs;
    private final PackConfig pack;
    private final AdamW optimiser;
    private final LrSchedule schedule;
    private final DecoderModel frozenReference;
    private BcoRunningMean bco = new BcoRunningMean();
    private final List<String> outputs;
    private final String weightsFingerprint;
    /** Per parameter, the array its gradients are summed in (see {@link #gradientSum}). */
    private final Map<String, INDArray> gradientSums = new HashMap<>();
    private int exportEvery;
    private StepExport export;

    /** Exports the model being trained after a step (e.g. as a Hugging Face directory). */
    @FunctionalInterface
    public interface StepExport {
        void export(int step, DecoderModel model);
    }
    private NonFiniteGuard guard = new NonFiniteGuard(NonFiniteGuard.DEFAULT_MAX_CONSECUTIVE);

    /**
     * @param train    training examples (already tokenised and truncated)
     * @param eval     held-out examples (may be empty: no evaluation)
     * @param terminal where progress goes (null: silent)
     */
    public DpoTrainer(TrainConfig cfg, List<TokenizedExample> train, List<TokenizedExample> eval,
                      PrintStream terminal) {
        this(cfg, WeightSource.random(cfg.seed(), DecoderModel.INIT_STD), "random", train, eval, terminal);
    }

    /**
     * A trainer whose model (and live reference) starts from {@code weights}, such as a Hugging Face checkpoint.
     *
     * @param weightsFingerprint identifies the initial weights (precomputed reference log-probs are reused only for
     *                           the same weights, data and settings)
     */
    public DpoTrainer(TrainConfig cfg, WeightSource weights, String weightsFingerprint, List<TokenizedExample> train,
                      List<TokenizedExample> eval, PrintStream terminal) {
        this(cfg, weights, weightsFingerprint, DecoderModel.Options.FULL, train, eval, terminal);
    }

    /**
     * A trainer of {@code options}' kind: full fine-tuning, or LoRA on a frozen (possibly bfloat16) base, whose
     * reference is the same base with the adapters disabled (TRL's reference of a PEFT model without
     * {@code ref_model}); with or without activation recompute.
     */
    public DpoTrainer(TrainConfig cfg, WeightSource weights, String weightsFingerprint, DecoderModel.Options options,
                      List<TokenizedExample> train, List<TokenizedExample> eval, PrintStream terminal) {
        this.cfg = Objects.requireNonNull(cfg, "cfg");
        this.weightsFingerprint = Objects.requireNonNull(weightsFingerprint, "weightsFingerprint");
        if (train.isEmpty()) {
            throw new IllegalArgumentException("no training examples");
        }
        Set<Long> ids = new HashSet<>();
        for (TokenizedExample e : train) {
            ids.add(e.id());
        }
        for (TokenizedExample e : eval) {
            if (ids.contains(e.id())) {
                throw new IllegalArgumentException("example id " + e.id() + " (" + e.source() + ") is in both the "
                        + "training and the held-out split; ids must be unique across both");
            }
        }
        this.train = train;
        this.eval = eval;
        this.terminal = terminal;
        this.pack = PackConfig.defaults(cfg.packLength(), cfg.rowsPerBatch(), cfg.seed()).withPacking(cfg.packing());
        PrefixShareOps.Implementation impl = PrefixShareOps.Implementation.AUTO;
        this.model = DecoderModel.create(cfg.model(), weights, impl, options);
        this.objective = new DpoObjective(model, cfg.loss());
        boolean lora = options.lora() != null;
        // the reference: with LoRA the base with its adapters off (no second copy of the weights), else a second
        // model holding the initial weights
        this.frozenReference = cfg.reference() == ReferenceMode.NONE ? null
                : lora ? model.adaptersDisabled()
                : cfg.reference() == ReferenceMode.LIVE ? DecoderModel.create(cfg.model(), weights, impl) : model;
        this.liveReference = cfg.reference() == ReferenceMode.LIVE ? frozenReference : null;
        this.refs = cfg.reference() == ReferenceMode.PRECOMPUTED ? precompute() : ReferenceLogps.NONE;
        int total = totalSteps();
        this.schedule = new LrSchedule(cfg.learningRate(), Math.min(cfg.warmupSteps(), total), total, cfg.schedule());
        this.optimiser = new AdamW(model.parameters(), schedule, cfg.weightDecay());
        this.outputs = new ArrayList<>(List.of(Metric.varNames()));
        log.info("training {} ({} parameters, attention {}) on {} examples, {} held out; loss {}, reference {}",
                cfg.model(), model.parameterCount(), model.implementation(), train.size(), eval.size(),
                cfg.loss().terms(), cfg.reference());
    }

    /**
     * Exports the model every {@code every} optimiser steps but the last (the caller exports the final model after
     * {@link #train()}); 0 turns it off. Returns this trainer.
     */
    public DpoTrainer exportEvery(int every, StepExport exporter) {
        if (every < 0) {
            throw new IllegalArgumentException("export interval must be >= 0, got " + every);
        }
        this.exportEvery = every;
        this.export = exporter;
        return this;
    }

    /** The model being trained. */
    public DecoderModel model() {
        return model;
    }

    /**
     * Stops a run after {@code n} skipped steps in a row (a step whose loss or gradient norm is not finite is
     * skipped: see {@link NonFiniteGuard}); default {@value NonFiniteGuard#DEFAULT_MAX_CONSECUTIVE}.
     */
    public DpoTrainer maxSkippedSteps(int n) {
        this.guard = new NonFiniteGuard(n);
        return this;
    }

    /** The optimiser (tests). */
    AdamW optimiser() {
        return optimiser;
    }

    /** Optimiser steps this run will do. */
    public int totalSteps() {
        if (cfg.maxSteps() > 0) {
            return cfg.maxSteps();
        }
        try (PreferenceBatchIterator it = new PreferenceBatchIterator(train, pack)) {
            return Math.max(1, cfg.epochs() * it.batchesPerEpoch() / cfg.gradAccumulation());
        }
    }

    private ReferenceStore precompute() {
        List<TokenizedExample> all = new ArrayList<>(train);
        all.addAll(eval);
        String fingerprint = Integer.toHexString(Objects.hash(cfg.model(), cfg.seed(), weightsFingerprint,
                cfg.packLength(),
                all.stream().mapToLong(e -> e.id() * 31 + java.util.Arrays.hashCode(e.prompt())
                        + e.responses().stream().mapToInt(java.util.Arrays::hashCode).sum()).sum()));
        return ReferenceStore.loadOrCompute(cfg.outputDir(), fingerprint, frozenReference, all, pack);
    }

    /** Trains from the latest checkpoint of the output directory (or from scratch) to the last step. */
    public Result train() {
        return trainUntil(totalSteps());
    }

    /**
     * Trains from the latest checkpoint (or from scratch) up to optimiser step {@code stopStep} (at most the last
     * step) and writes a checkpoint there: an interrupted run, which a later {@link #train()} resumes.
     */
    public Result trainUntil(int stopStep) {
        int total = totalSteps();
        int stop = Math.min(stopStep, total);
        PreferenceBatchIterator it = new PreferenceBatchIterator(train, pack, refs);
        int step = resume(it);
        TrainLog.truncate(cfg.outputDir(), step);
        Map<String, Object> lastTrain = Map.of();
        Map<String, Object> lastEval = Map.of();
        long trainNanos = 0;
        int stepsRun = 0;
        long samples = 0;
        long tokens = 0;
        try (TrainLog tlog = new TrainLog(cfg.outputDir(), terminal, total)) {
            while (step < stop) {
                long start = System.nanoTime();
                Map<String, Object> m = step(it, step);
                long took = System.nanoTime() - start;
                step++;
                stepsRun++;
                trainNanos += took;
                samples += ((Number) m.get("samples")).longValue();
                tokens += ((Number) m.get("tokens")).longValue();
                m.put("tokens_per_s", ((Number) m.get("tokens")).doubleValue() * 1e9 / took);
                m.put("samples_per_s", ((Number) m.get("samples")).doubleValue() * 1e9 / took);
                Map<String, Object> line = TrainLog.ordered();
                line.put("step", step);
                line.putAll(m);
                String nonFinite = NonFiniteGuard.nonFinite(num(m, "loss"), num(m, "grad_norm"));
                String warning = null;
                if (nonFinite != null) {
                    guard.skipped(nonFinite);
                } else {
                    warning = guard.applied(step, num(m, "loss"));
                }
                line.put("train/skipped_steps", guard.skippedSteps());
                tlog.write(line);
                tlog.progress(step, line);
                tell(warning);
                guard.haltIfTooMany(step);
                lastTrain = line;
                boolean last = step == total;
                boolean stopping = step == stop;
                if (evaluatesAt(step, total)) {
                    lastEval = evaluate();
                    Map<String, Object> el = TrainLog.ordered();
                    el.put("step", step);
                    el.putAll(lastEval);
                    tlog.write(el);
                    tlog.eval(step, el);
                }
                if (stopping || (cfg.checkpointEvery() > 0 && step % cfg.checkpointEvery() == 0)) {
                    checkpoint(step, it.state());
                }
                if (export != null && exportEvery > 0 && step % exportEvery == 0 && !last) {
                    export.export(step, model);
                }
            }
        } finally {
            it.close();
        }
        double secs = trainNanos / 1e9;
        return new Result(step, lastTrain, lastEval, secs > 0 ? samples / secs : 0, secs > 0 ? tokens / secs : 0,
                stepsRun > 0 ? secs / stepsRun : 0);
    }

    /** One optimiser step over {@code gradAccumulation} micro-batches. */
    private Map<String, Object> step(PreferenceBatchIterator it, int step) {
        SameDiff sd = model.sameDiff();
        List<String> params = model.parameterNames();
        Map<String, INDArray> sum = new LinkedHashMap<>();
        Map<String, Double> metricSum = new LinkedHashMap<>();
        long samples = 0;
        long tokens = 0;
        double rewardSum = 0;
        for (int micro = 0; micro < cfg.gradAccumulation(); micro++) {
            if (!it.hasNext()) {
                it.reset(); // next epoch, reshuffled
            }
            LayoutBatch batch = it.nextLayout();
            long mark = ArrayCache.mark();
            INDArray refLogps = liveReference == null ? null : liveReference.logps(batch);
            // a new dropout mask per micro-batch (LoRA dropout), reproducible from the run's seed and the step
            model.setDropoutSeed((cfg.seed() & 0xFFFFFFFFL) * 1_000_003L + (long) step * cfg.gradAccumulation() + micro);
            Map<String, INDArray> feeds = objective.feeds(batch, refLogps, bco.mean());
            var og = sd.calculateGradientsAndOutputs(feeds, outputs, params);
            for (String p : params) {
                INDArray g = og.getGradients().get(p);
                if (g != null) {
                    INDArray into = sum.containsKey(p) ? sum.get(p).addi(g) : gradientSum(p, g).assign(g);
                    sum.put(p, into);
                }
            }
            for (String o : outputs) {
                metricSum.merge(o, og.getOutputs().get(o).getDouble(0), Double::sum);
            }
            rewardSum += og.getOutputs().get(Metric.REWARDS_CHOSEN.varName()).getDouble(0)
                    + og.getOutputs().get(Metric.REWARDS_REJECTED.varName()).getDouble(0);
            samples += batch.sequences().stream().mapToLong(s -> s.exampleId()).distinct().count();
            tokens += batch.usedTokens();
            ArrayCache.reclaim(mark); // read all it needs: the micro-batch's arrays go back for the next one
        }
        double inv = 1.0 / cfg.gradAccumulation();
        sum.values().forEach(g -> g.muli(inv));
        double gradNorm = AdamW.clipGlobalNorm(sum.values(), cfg.maxGradNorm());
        double lr = schedule.valueAt(step, 0);
        if (NonFiniteGuard.nonFinite(metricSum.get(Metric.LOSS.varName()) * inv, gradNorm) == null) {
            optimiser.apply(model.parameters(), sum, step);
            bco.update(rewardSum * inv / 2);
        } // else skipped: no weight, optimiser or running-mean change (trainUntil counts it)
        Map<String, Object> m = new LinkedHashMap<>();
        for (Metric metric : Metric.values()) {
            m.put(metric.trlName(), metricSum.get(metric.varName()) * inv);
        }
        m.put("learning_rate", lr);
        m.put("grad_norm", gradNorm);
        m.put("epoch", it.state().epoch());
        m.put("samples", samples);
        m.put("tokens", tokens);
        return m;
    }

    /**
     * The array that sums parameter {@code p}'s gradients over a step's micro-batches: one per parameter, kept for
     * the run (a fresh one each step would wait for a garbage collection to be freed).
     */
    private INDArray gradientSum(String p, INDArray like) {
        INDArray s = gradientSums.get(p);
        if (s == null || !Arrays.equals(s.shape(), like.shape()) || s.dataType() != like.dataType()) {
            s = Nd4j.createUninitializedDetached(like.dataType(), like.shape());
            gradientSums.put(p, s);
        }
        return s;
    }

    /**
     * Whether the held-out split is evaluated after {@code step}: every {@code evalEvery} steps, and after the last
     * step of a run at least that long (evalEvery 0: only after the last). A run shorter than the interval (a 2-step
     * memory check of a 7B model, say) is not evaluated: evaluation would cost more than the training.
     */
    boolean evaluatesAt(int step, int total) {
        if (eval.isEmpty()) {
            return false;
        }
        int every = cfg.evalEvery();
        return every == 0 ? step == total : step % every == 0 || (step == total && total >= every);
    }

    /** Metrics over the whole held-out split (pair-weighted means), TRL's names with an {@code eval_} prefix. */
    public Map<String, Object> evaluate() {
        SameDiff sd = model.sameDiff();
        model.setDropoutSeed(-1);                                                        // no dropout in evaluation
        Map<String, Double> sums = new LinkedHashMap<>();
        long pairs = 0;
        try (PreferenceBatchIterator it = new PreferenceBatchIterator(eval, pack.withShuffle(false), refs)) {
            while (it.hasNext()) {
                LayoutBatch batch = it.nextLayout();
                Map<String, INDArray> feeds = objective.feeds(batch,
                        liveReference == null ? null : liveReference.logps(batch), bco.mean());
                long mark = ArrayCache.mark();
                Map<String, INDArray> out = sd.output(feeds, outputs.toArray(new String[0]));
                Set<Long> examples = new HashSet<>();
                batch.sequences().forEach(s -> examples.add(s.exampleId()));
                long p = batch.sequences().size() - examples.size();
                pairs += p;
                for (String o : outputs) {
                    sums.merge(o, out.get(o).getDouble(0) * p, Double::sum);
                }
                ArrayCache.reclaim(mark);
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        for (Metric metric : Metric.values()) {
            m.put("eval_" + metric.trlName(), sums.getOrDefault(metric.varName(), Double.NaN) / Math.max(1, pairs));
        }
        m.put("eval_pairs", pairs);
        return m;
    }

    /**
     * Writes a checkpoint of the current state, unless a weight or optimiser value is not finite (then halts). It
     * writes the live arrays: nothing changes them until the next step, and copies would add the trainable
     * parameters' size three times over to the peak memory (480 MiB for a 7B-class model's LoRA adapters).
     */
    void checkpoint(int step, IteratorState state) {
        Map<String, INDArray> params = model.parameters();
        Map<String, INDArray> state0 = optimiser.state();
        String bad = NonFiniteGuard.firstNonFinite(params);
        String badState = bad == null ? NonFiniteGuard.firstNonFinite(state0) : null;
        if (bad != null || badState != null) {
            String kept = Checkpoint.latestStep(cfg.outputDir()).map(s -> "checkpoint-" + s + " is kept")
                    .orElse("there is no earlier checkpoint");
            throw new TrainingHaltedException(step, String.format("training stopped at step %d: %s holds NaN or "
                    + "infinite values, so checkpoint %d was not written (%s). Lower --lr and resume", step,
                    bad != null ? "parameter " + bad : "the optimiser state of " + badState, step, kept));
        }
        new Checkpoint(step, state.encode(), bco.mean(), bco.count(), params, state0, guard.state())
                .write(cfg.outputDir());
    }

    private void tell(String warning) {
        if (warning != null) {
            log.warn(warning);
            if (terminal != null) {
                terminal.println(warning);
            }
        }
    }

    private static double num(Map<String, Object> m, String key) {
        Object v = m.get(key);
        return v instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    /** Restores the latest checkpoint into the model, optimiser and iterator; returns the step to continue from. */
    private int resume(PreferenceBatchIterator it) {
        var latest = Checkpoint.latest(cfg.outputDir());
        if (latest.isEmpty()) {
            return 0;
        }
        Checkpoint c = latest.get();
        try {
            model.setParameters(c.parameters());
            optimiser.restore(c.optimiser());
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new IllegalArgumentException("checkpoint-" + c.step() + " in " + cfg.outputDir() + " does not fit "
                    + "this model (" + e.getMessage() + "): it belongs to another run; train into another --output");
        }
        try {
            it.restore(IteratorState.parse(c.iteratorState()));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("checkpoint-" + c.step() + " in " + cfg.outputDir() + " holds a data "
                    + "cursor that does not fit this data (" + e.getMessage() + "): train into another --output");
        }
        bco = BcoRunningMean.restore(c.bcoMean(), c.bcoCount());
        guard.restore(c.guard());
        log.info("resumed from checkpoint at step {}", c.step());
        if (terminal != null) {
            terminal.println("resumed from checkpoint at step " + c.step());
        }
        return c.step();
    }
}
