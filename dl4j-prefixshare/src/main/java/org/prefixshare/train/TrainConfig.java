package org.prefixshare.train;

import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Everything a training run needs besides its data. Validated at construction; the CLI's option descriptions
 * repeat these meanings.
 *
 * @param model            decoder architecture (a preset or a Hugging Face config)
 * @param loss             loss terms and their parameters (beta, label smoothing, ...)
 * @param reference        where reference log-probs come from; NONE only for reference-free losses
 * @param learningRate     peak learning rate of Adam
 * @param warmupSteps      linear warm-up steps
 * @param schedule         decay after warm-up
 * @param weightDecay      decoupled (AdamW) weight decay; 0 = plain Adam
 * @param maxGradNorm      global L2 gradient clipping; 0 = off
 * @param gradAccumulation micro-batches per optimiser step
 * @param maxSteps         optimiser steps; 0 = run {@code epochs} epochs
 * @param epochs           epochs when {@code maxSteps} is 0
 * @param evalEvery        evaluate on the held-out split every N steps (0 = only at the end)
 * @param checkpointEvery  write a checkpoint every N steps (0 = only at the end)
 * @param packLength       tokens per packed row
 * @param rowsPerBatch     rows per micro-batch
 * @param packing          pack several documents per row (false: one document per row)
 * @param seed             initial weights, data order
 * @param outputDir        metrics.jsonl, checkpoints, reference_logps.tsv
 */
public record TrainConfig(DecoderConfig model, LossConfig loss, ReferenceMode reference, double learningRate,
                          int warmupSteps, LrSchedule.Shape schedule, double weightDecay, double maxGradNorm,
                          int gradAccumulation, int maxSteps, int epochs, int evalEvery, int checkpointEvery,
                          int packLength, int rowsPerBatch, boolean packing, long seed, Path outputDir) {

    public TrainConfig {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(loss, "loss");
        Objects.requireNonNull(reference, "reference");
        Objects.requireNonNull(schedule, "schedule");
        Objects.requireNonNull(outputDir, "outputDir");
        require(learningRate > 0, "learning rate must be > 0, got " + learningRate);
        require(warmupSteps >= 0, "warmup steps must be >= 0, got " + warmupSteps);
        require(weightDecay >= 0, "weight decay must be >= 0, got " + weightDecay);
        require(maxGradNorm >= 0, "max grad norm must be >= 0 (0 = no clipping), got " + maxGradNorm);
        require(gradAccumulation >= 1, "gradient accumulation must be >= 1, got " + gradAccumulation);
        require(maxSteps >= 0 && epochs >= 0 && (maxSteps > 0 || epochs > 0),
                "give max steps > 0 or epochs > 0 (got steps " + maxSteps + ", epochs " + epochs + ")");
        require(evalEvery >= 0 && checkpointEvery >= 0, "eval/checkpoint intervals must be >= 0");
        require(packLength > 0 && rowsPerBatch > 0, "pack length and rows per batch must be > 0");
        if (reference == ReferenceMode.NONE && loss.needsReference()) {
            throw new IllegalArgumentException("reference mode none cannot serve the loss " + loss.terms()
                    + ": it needs reference log-probs; use precomputed or live, or a reference-free loss "
                    + "(sft, simpo, cpo, orpo)");
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** The embedded default: tiny model, sigmoid DPO (beta 0.1), precomputed reference. */
    public static TrainConfig defaults(Path outputDir) {
        return new TrainConfig(DecoderConfig.tiny(), LossConfig.defaults(), ReferenceMode.PRECOMPUTED, 2e-3, 10,
                LrSchedule.Shape.COSINE, 0.0, 1.0, 1, 120, 0, 40, 0, 512, 4, true, 42L, outputDir);
    }

    /** This config with other step counts (tests, CLI overrides). */
    public TrainConfig withSteps(int steps, int evalEveryN, int checkpointEveryN) {
        return new TrainConfig(model, loss, reference, learningRate, warmupSteps, schedule, weightDecay, maxGradNorm,
                gradAccumulation, steps, epochs, evalEveryN, checkpointEveryN, packLength, rowsPerBatch, packing, seed,
                outputDir);
    }
}
