package org.prefixshare.bench.training;

import org.prefixshare.model.DecoderConfig;

/**
 * Ideal speedups of one layout over another on the same examples.
 *
 * <p><b>Token ideal</b> (the definition, and the {@code ideal_*} figures of the JSON): the ratio of tokens
 * processed, padding included ({@code rows x T}). Every per-token part of the model (projections, MLP, norms,
 * RoPE) costs exactly this ratio.
 *
 * <p><b>Does attention's quadratic part change it?</b> Yes, and downwards for prefix sharing: sharing removes the
 * second copy of the prompt's <i>tokens</i>, but each response still attends to the whole prompt, so the visible
 * area drops only by the prompt's own triangle: paired {@code (P+C1)^2/2 + (P+C2)^2/2} against shared
 * {@code P^2/2 + P(C1+C2) + C1^2/2 + C2^2/2}. For P = 2C that is 18/14 = 1.29 against a token ratio of 1.5. The
 * <b>cost-model ideal</b> weights both with the model's FLOPs: {@code tokenFlops x rowTokens + pairFlops x
 * visiblePairs} (+ the LM head on the labelled positions, the same in every mode). It lies between the attention
 * ratio and the token ratio and is the tighter bound when attention is a large share of the step. Both are printed;
 * which one a run can reach depends on how close the kernels run to the matmul rate.
 *
 * <p><b>Expected with the fixed step cost</b>: a step also costs a fixed F that no layout saves (SameDiff's
 * scheduling of the step's ops, Adam, work the size of the weights; {@link ModeResult#fixed_step_ms}). With step
 * time = F + work and the work in the cost-model ratio, the speedup to expect is {@link #withFixedCost}.
 */
public final class Ideal {

    private Ideal() {
    }

    /** Training FLOPs (forward + backward) per processed token outside attention: 6 x the per-token matmul weights. */
    public static double tokenFlops(DecoderConfig c) {
        long h = c.hiddenSize();
        long q = (long) c.numHeads() * c.headDim();
        long kv = (long) c.numKvHeads() * c.headDim();
        long perLayer = h * q + 2 * h * kv + q * h + 3 * h * c.intermediateSize();
        return 6.0 * perLayer * c.numLayers();
    }

    /**
     * Training FLOPs per visible (query, key) pair: forward 4 x Hq x D (scores and values), backward 2.5 x that (as
     * {@code bench attention} counts), per layer.
     */
    public static double pairFlops(DecoderConfig c) {
        return 3.5 * 4.0 * c.numHeads() * c.headDim() * c.numLayers();
    }

    /** Training FLOPs per labelled position (LM head): 6 x hidden x vocab. */
    public static double labelFlops(DecoderConfig c) {
        return 6.0 * c.hiddenSize() * (double) c.vocabSize();
    }

    /** Token ideal of {@code faster} over {@code baseline}: baseline tokens / faster tokens. */
    public static double tokens(StepCost baseline, StepCost faster) {
        return (double) baseline.rowTokens() / faster.rowTokens();
    }

    /** Cost-model FLOPs of a batch (labels given separately: they do not depend on the layout). */
    public static double flops(DecoderConfig c, StepCost s, long labels) {
        return tokenFlops(c) * s.rowTokens() + pairFlops(c) * s.visiblePairs() + labelFlops(c) * labels;
    }

    /** Cost-model ideal of {@code faster} over {@code baseline}. */
    public static double costModel(DecoderConfig c, StepCost baseline, StepCost faster, long labels) {
        return flops(c, baseline, labels) / flops(c, faster, labels);
    }

    /**
     * The speedup to expect of {@code faster} over {@code baseline} when each step costs a fixed part besides the work
     * the cost model counts: {@code (baselineFixedMs + costIdeal x (fasterStepMs - fasterFixedMs)) / fasterStepMs},
     * with {@code fasterStepMs} the faster mode's mean measured step. NaN when a figure is missing or the fixed part
     * is not below the step (steps that small leave no work for the model to scale).
     */
    public static double withFixedCost(double costIdeal, double fasterStepMs, double fasterFixedMs,
                                       double baselineFixedMs) {
        if (!(fasterFixedMs < fasterStepMs)) {
            return Double.NaN;
        }
        return (baselineFixedMs + costIdeal * (fasterStepMs - fasterFixedMs)) / fasterStepMs;
    }

    /** Share of attention in the cost-model FLOPs of a batch. */
    public static double attentionShare(DecoderConfig c, StepCost s, long labels) {
        return pairFlops(c) * s.visiblePairs() / flops(c, s, labels);
    }
}
