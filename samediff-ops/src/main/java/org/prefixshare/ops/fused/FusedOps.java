package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.nativeload.NativeLibrary;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * The decoder's row-wise building blocks (HF Llama semantics) as SameDiff expressions:
 *
 * <pre>{@code
 * SDVariable n   = FusedOps.rmsNorm(sd, x, weight, 1e-6);   // x [M,H], weight [H]
 * SDVariable q2  = FusedOps.rope(sd, q, cos, sin);           // q [M, heads*D], cos/sin [M,D]
 * SDVariable act = FusedOps.swiGlu(sd, gate, up);            // silu(gate) * up, [M,I]
 * SDVariable y   = FusedOps.linear(sd, x, w);                // x w^T, x [M,in], w [out,in] (HF layout)
 * SDVariable lp  = FusedOps.labelLogProbs(sd, logits, ids, V); // log softmax(logits)[n, ids[n]], [N]
 * SDVariable lq  = FusedOps.lmHeadLabelLogProbs(sd, h, head, ids, V); // the same from h [N,H], head [V,H]
 * }</pre>
 *
 * Each builds one fused native op ({@link FusedRmsNorm}, {@link FusedRope}, {@link FusedSwiGlu}, {@link FusedLinear},
 * {@link FusedLabelLogProbs}; their backward ops are single native ops too) when fused ops are {@link #enabled()},
 * else the decomposed pure-SameDiff formulation ({@link #decomposedRmsNorm}, {@link #decomposedRope},
 * {@link #decomposedSwiGlu}, {@link #decomposedLinear}, {@link #decomposedLabelLogProbs}), which is also the test
 * oracle. The fused ops replace ND4J's broadcast multiplies, sigmoid, matmul and their backward ops, which otherwise
 * dominate a CPU training step. Graphs holding them clone, save and load once {@link PrefixShareOps#init()} ran
 * (every method here calls it).
 */
public final class FusedOps {

    private static final Logger log = LoggerFactory.getLogger(FusedOps.class);

    /** {@code -Dprefixshare.fused=false} builds the decomposed formulation everywhere (default true). */
    public static final String PROPERTY = "prefixshare.fused";

    private static final String CUDA_BACKEND = "org.nd4j.linalg.jcublas.JCublasBackend";

    private static volatile boolean fallbackLogged;

    private FusedOps() {
    }

    /**
     * Whether {@link #rmsNorm}, {@link #rope}, {@link #swiGlu} and {@link #linear} build the fused native ops now:
     * {@code true} unless {@code -Dprefixshare.fused=false}, the native library is not loaded, or ND4J runs on the
     * CUDA backend (the kernels are CPU kernels; on a GPU the decomposed ops stay on the device). The first time the
     * answer is false the reason is logged at INFO.
     */
    public static boolean enabled() {
        String why = null;
        if ("false".equalsIgnoreCase(System.getProperty(PROPERTY, "true").trim())) {
            why = "disabled by -D" + PROPERTY + "=false";
        } else if (!NativeLibrary.isAvailable()) {
            why = "native library unavailable: " + NativeLibrary.failure();
        } else if (Nd4j.getBackend().getClass().getName().equals(CUDA_BACKEND)) {
            why = "ND4J runs on the CUDA backend and the fused kernels are CPU kernels";
        }
        if (why == null) {
            return true;
        }
        if (!fallbackLogged) {
            fallbackLogged = true;
            log.info("prefixshare: RMSNorm, RoPE, SwiGLU, linear layers and label log-probs use the decomposed "
                    + "SameDiff ops, not the fused native ops ({})", why);
        }
        return false;
    }

    // ------------------------------------------------------------------------------------------------ RMSNorm

    /**
     * HF {@code LlamaRMSNorm} over the last axis of x {@code [M,H]}: {@code (x / sqrt(mean(x^2) + eps)) * weight},
     * weight with H elements ({@code [H]} or {@code [1,H]}). Differentiable in x and weight.
     */
    public static SDVariable rmsNorm(SameDiff sd, SDVariable x, SDVariable weight, double eps) {
        return enabled() ? fusedRmsNorm(sd, x, weight, eps) : decomposedRmsNorm(sd, x, weight, eps);
    }

    /** {@link #rmsNorm} as the fused native op (needs the native library). */
    public static SDVariable fusedRmsNorm(SameDiff sd, SDVariable x, SDVariable weight, double eps) {
        PrefixShareOps.init();
        NativeLibrary.require();
        return new FusedRmsNorm(sd, x, weight, eps).outputVariable();
    }

    /** {@link #rmsNorm} in plain SameDiff ops (the oracle and fallback): x * rsqrt(mean(x^2) + eps) * weight. */
    public static SDVariable decomposedRmsNorm(SameDiff sd, SDVariable x, SDVariable weight, double eps) {
        PrefixShareOps.init();
        SDVariable ms = sd.mean(x.mul(x), true, 1);                                   // [M,1]
        return x.mul(sd.math().rsqrt(ms.add(eps))).mul(weight);
    }

    // ------------------------------------------------------------------------------------------------ RoPE

    /**
     * HF {@code apply_rotary_pos_emb} (rotate-half convention) on x {@code [M, heads*D]} with cos and sin
     * {@code [M,D]} (D even; one row per token, e.g. from angles {@code position * theta^(-2 (j mod D/2) / D)}):
     * {@code x * cos + rotate_half(x) * sin} per head, returned as {@code [M, heads*D]}. Differentiable in x; cos and
     * sin get zero gradients (they are functions of positions).
     */
    public static SDVariable rope(SameDiff sd, SDVariable x, SDVariable cos, SDVariable sin) {
        return enabled() ? fusedRope(sd, x, cos, sin) : decomposedRope(sd, x, cos, sin);
    }

    /** {@link #rope} as the fused native op (needs the native library). */
    public static SDVariable fusedRope(SameDiff sd, SDVariable x, SDVariable cos, SDVariable sin) {
        PrefixShareOps.init();
        NativeLibrary.require();
        return new FusedRope(sd, x, cos, sin).outputVariable();
    }

    /**
     * {@link #rope} in plain SameDiff ops (the oracle and fallback). Shapes are taken at run time (graph variables
     * have no static shape in M2.1): x is viewed as {@code [M, heads, D]} with M and D from cos, rotate_half is
     * {@code concat(-x[..., D/2:], x[..., :D/2])}, and cos and sin broadcast over the heads.
     * (In the fallback cos and sin do get their true gradients; the fused op gives them zeros.)
     */
    public static SDVariable decomposedRope(SameDiff sd, SDVariable x, SDVariable cos, SDVariable sin) {
        PrefixShareOps.init();
        SDVariable tableShape = sd.shape(cos);                                        // [2]: M, D
        SDVariable rows = sd.slice(tableShape, new int[]{0}, 1);
        SDVariable d = sd.slice(tableShape, new int[]{1}, 1);
        SDVariable minusOne = sd.constant(Nd4j.createFromArray(new long[]{-1}).castTo(tableShape.dataType()));
        SDVariable x3 = sd.reshape(x, sd.concat(0, rows, minusOne, d));              // [M,heads,D]
        SDVariable[] halves = sd.split(x3, 2, 2);                                     // [M,heads,D/2] x 2
        SDVariable rotated = sd.concat(2, halves[1].neg(), halves[0]);                // rotate_half(x)
        SDVariable y = x3.mul(sd.expandDims(cos, 1)).add(rotated.mul(sd.expandDims(sin, 1)));
        return sd.reshape(y, sd.shape(x));                                            // [M,heads*D]
    }

    // ------------------------------------------------------------------------------------------------ SwiGLU

    /** {@code silu(gate) * up} with {@code silu(g) = g sigmoid(g)}; gate and up of one shape {@code [M,I]}. */
    public static SDVariable swiGlu(SameDiff sd, SDVariable gate, SDVariable up) {
        return enabled() ? fusedSwiGlu(sd, gate, up) : decomposedSwiGlu(sd, gate, up);
    }

    /** {@link #swiGlu} as the fused native op (needs the native library). */
    public static SDVariable fusedSwiGlu(SameDiff sd, SDVariable gate, SDVariable up) {
        PrefixShareOps.init();
        NativeLibrary.require();
        return new FusedSwiGlu(sd, gate, up).outputVariable();
    }

    /** {@link #swiGlu} in plain SameDiff ops (the oracle and fallback): gate * sigmoid(gate) * up. */
    public static SDVariable decomposedSwiGlu(SameDiff sd, SDVariable gate, SDVariable up) {
        PrefixShareOps.init();
        return gate.mul(sd.nn().sigmoid(gate)).mul(up);
    }

    // ------------------------------------------------------------------------------------------------ linear

    /**
     * HF {@code nn.Linear} without bias: x {@code [M,in]} times w^T, w {@code [out,in]}; {@code [M,out]}.
     * Differentiable in x and w, except a BFLOAT16 w beside FLOAT x: a frozen weight (LoRA's base, kept at two bytes
     * a parameter and widened exactly as it is read), which gets no gradient. The fused op is one native product forward and two backward; ND4J's mmul on these
     * shapes (in = 128..352, M in the thousands) ran at 8-40 GFLOP/s on a 2-core machine (OpenBLAS's threads and
     * libgomp's spinning team contend, and each call computes into a temporary that is assigned), the native product
     * at 100-200.
     */
    public static SDVariable linear(SameDiff sd, SDVariable x, SDVariable w) {
        return enabled() ? fusedLinear(sd, x, w) : decomposedLinear(sd, x, w);
    }

    /** {@link #linear} as the fused native op (needs the native library). */
    public static SDVariable fusedLinear(SameDiff sd, SDVariable x, SDVariable w) {
        PrefixShareOps.init();
        NativeLibrary.require();
        return new FusedLinear(sd, x, w).outputVariable();
    }

    /**
     * {@link #linear} as ND4J's matmul (the oracle and fallback; x must be rank 2). A BFLOAT16 w is cast to x's type
     * first (exact), since ND4J multiplies only arrays of one type.
     */
    public static SDVariable decomposedLinear(SameDiff sd, SDVariable x, SDVariable w) {
        PrefixShareOps.init();
        SDVariable wx = w.dataType() == DataType.BFLOAT16 && x.dataType() != DataType.BFLOAT16
                ? w.castTo(x.dataType()) : w;
        return sd.mmul(x, wx, false, true, false);
    }

    // ------------------------------------------------------------------------------------------------ label log-probs

    /**
     * The log-softmax of each row of logits {@code [N,V]} read at its label: {@code logp[n] = logits[n, labels[n]] -
     * log(sum_v exp(logits[n, v]))}, {@code [N]}; labels {@code [N]} hold token ids in {@code [0, vocabSize)} in any
     * numeric type (float-typed placeholders included). Differentiable in the logits (the labels get zeros).
     */
    public static SDVariable labelLogProbs(SameDiff sd, SDVariable logits, SDVariable labels, int vocabSize) {
        return enabled() ? fusedLabelLogProbs(sd, logits, labels)
                : decomposedLabelLogProbs(sd, logits, labels, vocabSize);
    }

    /**
     * {@link #labelLogProbs} as the fused native op (needs the native library; the vocabulary is the logits' width).
     */
    public static SDVariable fusedLabelLogProbs(SameDiff sd, SDVariable logits, SDVariable labels) {
        PrefixShareOps.init();
        NativeLibrary.require();
        return new FusedLabelLogProbs(sd, logits, labels).outputVariable();
    }

    /**
     * {@link #labelLogProbs} in plain SameDiff ops (the oracle and fallback): max-subtracted log-softmax, written out
     * because ND4J M2.1's {@code log_softmax} backward is broken, read at the label through a one-hot product.
     */
    public static SDVariable decomposedLabelLogProbs(SameDiff sd, SDVariable logits, SDVariable labels,
                                                     int vocabSize) {
        PrefixShareOps.init();
        SDVariable shifted = logits.sub(sd.max(logits, true, 1));
        SDVariable lse = sd.math().log(sd.sum(sd.math().exp(shifted), true, 1));       // [N,1]
        SDVariable logProbs = shifted.sub(lse);                                         // [N,V]
        SDVariable pick = sd.oneHot(labels.castTo(DataType.INT32), vocabSize, 1, 1.0, 0.0, logits.dataType());
        return sd.sum(logProbs.mul(pick), false, 1);                                    // [N]
    }

    // ------------------------------------------------------------------------------------------------ LM head

    /**
     * The LM head and the log-softmax at the labels in one: {@code logp[n] = log softmax(hidden[n] head^T)[labels[n]]}
     * for hidden {@code [N,H]} (the final-normed hidden states of the labelled positions), head {@code [V,H]} (HF's
     * {@code lm_head.weight}, or the embedding when tied) and labels {@code [N]} (token ids in {@code [0, vocabSize)},
     * INT32 or any numeric type); returns {@code [N]}. Differentiable in hidden, and in the head unless it is BFLOAT16
     * (a frozen head read at two bytes a parameter; hidden must then be FLOAT). The fused op ({@link
     * FusedLmHeadLogProbs}) never materialises the {@code [N,V]} logits (one reused block of at most 64 MiB instead
     * of N x V logits and their gradient: 2.5 GB at N = 2,048, V = 152,064); the decomposed formulation
     * ({@link #decomposedLmHeadLabelLogProbs}: {@link #linear} then {@link #labelLogProbs}) is the fallback when fused
     * ops are not {@link #enabled()}.
     *
     * <p>The fused op has a second output, the saved log-sum-exp; in a DL4J {@code SameDiffVertex}, where every
     * unconsumed output is taken as a loss, consume it with {@link #zeroOf} as {@link #decoderLayerInVertex} does.
     */
    public static SDVariable lmHeadLabelLogProbs(SameDiff sd, SDVariable hidden, SDVariable head, SDVariable labels,
                                                 int vocabSize) {
        return enabled() ? fusedLmHeadLabelLogProbs(sd, hidden, head, labels)
                : decomposedLmHeadLabelLogProbs(sd, hidden, head, labels, vocabSize);
    }

    /**
     * {@link #lmHeadLabelLogProbs} as the fused native op (needs the native library; the vocabulary is the head's row
     * count). Returns logp; the op's second output is the saved log-sum-exp.
     */
    public static SDVariable fusedLmHeadLabelLogProbs(SameDiff sd, SDVariable hidden, SDVariable head,
                                                      SDVariable labels) {
        PrefixShareOps.init();
        NativeLibrary.require();
        return new FusedLmHeadLogProbs(sd, hidden, head, labels).outputVariables()[0];
    }

    /**
     * {@link #lmHeadLabelLogProbs} in plain SameDiff ops (the oracle and fallback): {@link #decomposedLinear} into
     * {@code [N,V]} logits, then {@link #decomposedLabelLogProbs}.
     */
    public static SDVariable decomposedLmHeadLabelLogProbs(SameDiff sd, SDVariable hidden, SDVariable head,
                                                           SDVariable labels, int vocabSize) {
        return decomposedLabelLogProbs(sd, decomposedLinear(sd, hidden, head), labels, vocabSize);
    }

    // ------------------------------------------------------------------------------------------------ decoder layer

    /**
     * Whether a decoder layer with this (resolved) attention implementation is built as {@link #decoderLayer}: the
     * fused ops are {@link #enabled()} and the attention is the native op (the layer op runs the native CPU
     * attention inside; the dense reference keeps the op-per-step formulation).
     */
    public static boolean decoderLayerEnabled(PrefixShareOps.Implementation attention) {
        return attention == PrefixShareOps.Implementation.NATIVE && enabled();
    }

    /**
     * Bytes one {@link #decoderLayer} keeps for its backward (its workspace: queries, keys, values, attention output,
     * residual, MLP gate and up, the attention's log-sum-exp) over {@code batch} rows of {@code seqlen} tokens, in
     * the compute type {@code type}. With recompute a layer keeps only its input, and the backward reruns the layer
     * into one workspace of this size, reused by every layer.
     */
    public static long decoderLayerWorkspaceBytes(long batch, long seqlen, long hidden, long headsQ, long headsKv,
                                                  long headDim, long inter, DataType type) {
        return new LayerWorkspace(batch * seqlen, batch, seqlen, hidden, headsQ, headsKv, headDim, inter).length()
                * type.width();
    }

    /**
     * A whole decoder layer ({@link FusedDecoderLayer}) on h {@code [M,H]}: pre-norm attention with RoPE from the
     * tables cos and sin {@code [M,D]} over the layout node / subtreeEnd {@code [R,T]} ({@code R*T = M}), then the
     * pre-norm SwiGLU MLP, each with its residual; returns the layer's output {@code [M,H]}. One op forward and one
     * backward; h and the weights get gradients, the tables and the layout none. Needs {@link #enabled()} (native
     * library, CPU backend) and the native attention; callers build the op-per-step formulation otherwise.
     */
    public static SDVariable decoderLayer(SameDiff sd, SDVariable h, DecoderLayerWeights weights, SDVariable cos,
                                          SDVariable sin, SDVariable node, SDVariable subtreeEnd, double eps,
                                          double scale) {
        return decoderLayer(sd, h, weights, null, cos, sin, node, subtreeEnd, eps, scale, false, 0);
    }

    /**
     * {@link #decoderLayer(SameDiff, SDVariable, DecoderLayerWeights, SDVariable, SDVariable, SDVariable, SDVariable,
     * double, double)} with LoRA adapters (null: none) and activation recompute. With adapters the base weights are
     * frozen (they get no gradient, and may be bfloat16 with a float32 h) and h and the adapters get gradients. With
     * {@code recompute} the op saves nothing for its backward but its input, and the backward reruns the forward
     * (bit for bit) before differentiating.
     *
     * @param layer the layer's index (mixed into the adapters' dropout seed)
     */
    public static SDVariable decoderLayer(SameDiff sd, SDVariable h, DecoderLayerWeights weights,
                                          DecoderLayerAdapters adapters, SDVariable cos, SDVariable sin,
                                          SDVariable node, SDVariable subtreeEnd, double eps, double scale,
                                          boolean recompute, int layer) {
        LayerConfig c = adapters == null ? new LayerConfig(eps, scale, false, 0, 0, 0, recompute, layer)
                : new LayerConfig(eps, scale, false, adapters.scale(), adapters.mask(), adapters.dropout(), recompute,
                layer);
        return decoderLayerOp(sd, h, weights, adapters, cos, sin, node, subtreeEnd, c).outputVariables()[0];
    }

    /**
     * {@link #decoderLayer} for a DL4J {@code SameDiffVertex}, where every output left unconsumed is taken as a loss
     * and every vertex input needs a floating-point gradient path: the layer's saved activations are consumed with
     * {@link #zeroOf}, and the tables and the layout get exact zero gradients. Same values and parameter gradients as
     * {@link #decoderLayer}.
     */
    public static SDVariable decoderLayerInVertex(SameDiff sd, SDVariable h, DecoderLayerWeights weights,
                                                  SDVariable cos, SDVariable sin, SDVariable node,
                                                  SDVariable subtreeEnd, double eps, double scale) {
        SDVariable[] out = decoderLayerOp(sd, h, weights, null, cos, sin, node, subtreeEnd,
                LayerConfig.plain(eps, scale, true)).outputVariables();
        return out[0].add(zeroOf(sd, out[1], out[0].dataType()));
    }

    private static FusedDecoderLayer decoderLayerOp(SameDiff sd, SDVariable h, DecoderLayerWeights weights,
                                                    DecoderLayerAdapters adapters, SDVariable cos, SDVariable sin,
                                                    SDVariable node, SDVariable subtreeEnd, LayerConfig c) {
        PrefixShareOps.init();
        NativeLibrary.require();
        List<SDVariable> in = new ArrayList<>();
        in.add(h);
        if (adapters != null) {
            in.addAll(adapters.inOrder());
        }
        in.addAll(weights.inOrder());
        in.addAll(List.of(cos, sin, node, subtreeEnd));
        if (adapters != null && adapters.seed() != null) {
            in.add(adapters.seed());
        }
        return new FusedDecoderLayer(sd, in.toArray(new SDVariable[0]), c);
    }

    /** A scalar exact zero of {@code type} that depends on x (any type) without reading it; no gradient to x. */
    public static SDVariable zeroOf(SameDiff sd, SDVariable x, DataType type) {
        PrefixShareOps.init();
        return new ZeroOf(sd, x, type).outputVariable();
    }
}
