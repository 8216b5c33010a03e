package org.prefixshare.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.ops.fused.FusedOps;

import java.util.Locale;

/**
 * Where a training step's memory goes: the peak resident set of a {@code train} process, predicted from the model's
 * shape, the training options and the batch (rows x row length tokens). Each part is arithmetic on those figures;
 * two constants ({@link #RUNTIME_BYTES}, {@link #BACKWARD_WORKSPACES}) were measured on this project's runs
 * (docs/bench/lora-7b.md holds the table of predicted against measured peaks).
 *
 * @param runtimeBytes     the JVM, its heap in use, ND4J's and OpenBLAS's native libraries and buffers
 * @param weightBytes      the model's weights: a frozen base in its storage type, or the trainable parameters
 * @param optimiserBytes   what training adds per trainable parameter: its gradient, the step's sum of gradients and
 *                         AdamW's two moments (and, with LoRA, the adapters themselves)
 * @param activationBytes  what the forward keeps for the backward: each layer's input, and without recompute each
 *                         layer's workspace
 * @param backwardBytes    the backward's working memory: one layer's (with recompute, the rerun forward's workspace
 *                         too), the gradient coming into the layer and the one it computes for its input
 * @param lmHeadBytes      the LM head at the labelled positions: the final hidden states, their gradient and one
 *                         64 MiB logits block (the {@code [N, V]} logits never exist)
 * @param cacheBytes       arrays SameDiff keeps for reuse between executions ({@link ArrayCache}: at most its cap,
 *                         and about the saved activations and the LM head's arrays)
 */
public record MemoryEstimate(long runtimeBytes, long weightBytes, long optimiserBytes, long activationBytes,
                             long backwardBytes, long lmHeadBytes, long cacheBytes) {

    /** The JVM and the native libraries, measured with the tiny model (whose own arrays are negligible). */
    public static final long RUNTIME_BYTES = 900L << 20;
    /**
     * Workspaces' worth of memory one layer's backward works in (its input gradients, the attention and MLP
     * gradients, before the array cache reuses them), measured on the 2- and 8-layer Mistral-7B-shape runs.
     */
    public static final double BACKWARD_WORKSPACES = 1.0;
    private static final long LM_HEAD_BLOCK_BYTES = 64L << 20;

    /**
     * The estimate for training {@code config} with {@code options} on batches of {@code rows} rows of
     * {@code rowLength} tokens.
     */
    public static MemoryEstimate training(DecoderConfig config, DecoderModel.Options options, long rows,
                                          long rowLength) {
        DataType compute = config.dataType();
        long w = compute.width();
        long params = config.parameterCount();
        long trainable = options.lora() != null ? LoraAdapters.parameterCount(config, options.lora())
                : options.frozenBase() ? 0 : params;
        long weights = options.frozenBase() ? params * options.baseType().width() : params * w;
        long optimiser = trainable * w * (options.lora() != null ? 5 : 4);
        long tokens = rows * rowLength;
        long layerInput = tokens * config.hiddenSize() * w;
        long workspace = FusedOps.decoderLayerWorkspaceBytes(rows, rowLength, config.hiddenSize(), config.numHeads(),
                config.numKvHeads(), config.headDim(), config.intermediateSize(), compute);
        long activations = config.numLayers() * (layerInput + (options.recompute() ? 0 : workspace));
        // a layer's backward hands back the gradient it read (ArrayRecycler): two are alive at a time, not one per layer
        long backward = (long) (BACKWARD_WORKSPACES * workspace) + (options.recompute() ? workspace : 0)
                + 2 * layerInput;
        long lmHead = 2 * layerInput + LM_HEAD_BLOCK_BYTES;
        // at the peak the cache holds about the forward side's arrays (the saved activations and the LM head's, freed
        // by the execution before): the backward's buffers go from layer to layer, live rather than cached. Fitted
        // to the measured runs (docs/bench/lora-7b.md), up to the cap
        long cache = Math.min(ArrayCache.cap(), activations + lmHead);
        return new MemoryEstimate(RUNTIME_BYTES, weights, optimiser, activations, backward, lmHead, cache);
    }

    /** The predicted peak resident set. */
    public long totalBytes() {
        return runtimeBytes + weightBytes + optimiserBytes + activationBytes + backwardBytes + lmHeadBytes + cacheBytes;
    }

    /** One line: the total and its parts, in GB. */
    public String describe() {
        return String.format(Locale.ROOT, "%s GB (weights %s, gradients + AdamW %s, saved activations %s, "
                        + "backward %s, LM head %s, array cache %s, runtime %s)", gb(totalBytes()), gb(weightBytes),
                gb(optimiserBytes), gb(activationBytes), gb(backwardBytes), gb(lmHeadBytes), gb(cacheBytes),
                gb(runtimeBytes));
    }

    private static String gb(long bytes) {
        return String.format(Locale.ROOT, "%.2f", bytes / 1e9);
    }
}
