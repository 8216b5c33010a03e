package org.prefixshare.bench.training;

import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.schedule.FixedSchedule;
import org.prefixshare.bench.Timing;
import org.prefixshare.data.TokenizedExample;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.DecoderModel;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.train.AdamW;
import org.prefixshare.train.DpoObjective;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Trains one {@link TrainingMode} for a few optimiser steps in this JVM and measures it. One step is what
 * {@link org.prefixshare.train.DpoTrainer} does: the batch's placeholders, {@code calculateGradientsAndOutputs} of
 * the DPO sigmoid loss, and an Adam update of every parameter. Reference log-probs are precomputed in DPO (not part
 * of a training step), so zeros stand in for them. Batches are built before timing (a real run builds them on a
 * prefetch thread). Between steps, outside the timed region, a {@code System.gc()} releases the previous step's
 * off-heap arrays so the off-heap peak is one step's working set, not garbage waiting for a collection.
 */
public final class ModeRunner {

    private ModeRunner() {
    }

    /**
     * @param steps      examples of each step, warm-up steps first (all modes get the same lists)
     * @param warmup     untimed leading steps
     * @param mode       the layout and attention
     * @param config     the model
     * @param packLength row length of packed modes
     * @param seed       model seed
     * @param progress   per-step lines (may be null)
     */
    public static ModeResult run(List<List<TokenizedExample>> steps, int warmup, TrainingMode mode,
                                 DecoderConfig config, int packLength, long seed, Consumer<String> progress) {
        if (steps.size() <= warmup) {
            throw new IllegalArgumentException("need more steps (" + steps.size() + ") than warm-up steps ("
                    + warmup + ")");
        }
        PrefixShareOps.init();
        List<LayoutBatch> batches = new ArrayList<>(steps.size());
        for (List<TokenizedExample> s : steps) {
            batches.add(ModeBatches.build(s, mode, packLength));
        }
        DecoderModel model = DecoderModel.create(config, seed, mode.implementation());
        DpoObjective objective = new DpoObjective(model, LossConfig.defaults());
        SameDiff sd = model.sameDiff();
        List<String> params = model.parameterNames();
        Map<String, INDArray> values = model.parameters();
        AdamW optimiser = new AdamW(values, new FixedSchedule(1e-5), 0);
        List<String> outputs = List.of(objective.lossName());

        int timed = steps.size() - warmup;
        double[] ms = new double[timed];
        double firstLoss = Double.NaN;
        double lastLoss = Double.NaN;
        int examples = steps.get(0).size();
        try (MemoryProbe probe = new MemoryProbe()) {
            for (int i = 0; i < steps.size(); i++) {
                LayoutBatch batch = batches.get(i);
                INDArray refs = Nd4j.zeros(config.dataType(), batch.sequences().size());
                System.gc();
                if (i == warmup) {
                    probe.reset();
                }
                long start = System.nanoTime();
                Map<String, INDArray> feeds = objective.feeds(batch, refs, 0.0);
                OutAndGrad og = sd.calculateGradientsAndOutputs(feeds, outputs, params);
                optimiser.apply(values, og.getGradients(), i);
                double loss = og.getOutputs().get(objective.lossName()).getDouble(0);
                long took = System.nanoTime() - start;
                probe.sample();
                if (i == 0) {
                    firstLoss = loss;
                }
                lastLoss = loss;
                if (i >= warmup) {
                    ms[i - warmup] = took / 1e6;
                }
                if (progress != null) {
                    progress.accept(String.format("    %s step %d/%d%s: %d rows x %d, %.0f ms, loss %.4f", mode.key(),
                            i + 1, steps.size(), i < warmup ? " (warm-up)" : "", batch.rows().size(),
                            batch.length(), took / 1e6, loss));
                }
            }
            double median = Timing.median(ms);
            double[] sps = new double[timed];
            for (int i = 0; i < timed; i++) {
                sps[i] = steps.get(warmup + i).size() * 1000.0 / ms[i];
            }
            double medianSps = Timing.median(sps);
            double fastest = Arrays.stream(ms).min().orElse(Double.NaN);
            return new ModeResult(mode.key(), medianSps, median, fastest, timed, examples,
                    probe.peakOffHeapBytes() / 1048576.0, probe.peakRssBytes() / 1048576.0,
                    MemoryProbe.vmHwmBytes() / 1048576.0, false, firstLoss, lastLoss);
        }
    }
}
