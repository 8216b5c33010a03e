package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.fused.FusedOps;

/**
 * The decoder's building blocks as SameDiff functions, shared by {@link DecoderModel} and the DL4J layers so both
 * compute the same thing in the same order (Hugging Face Llama semantics; weights in HF's {@code [out, in]} layout).
 * Linear layers, RMSNorm, RoPE, SwiGLU and the label log-probs are the fused native ops of {@link FusedOps} (one op
 * forward, one backward each) when the native library is loaded, else their decomposed SameDiff formulation.
 */
public final class DecoderMath {

    private DecoderMath() {
    }

    /**
     * x [M,in] times W^T (W [out,in], HF layout) plus bias [out] when given: the native matrix product of
     * {@link FusedOps#linear} when available, else ND4J's matmul.
     */
    public static SDVariable linear(SameDiff sd, SDVariable x, SDVariable w, SDVariable bias) {
        SDVariable y = FusedOps.linear(sd, x, w);
        return bias == null ? y : y.add(bias);
    }

    /**
     * HF LlamaRMSNorm over the last axis of [M,H]: weight * x / sqrt(mean(x^2) + eps). The fused native op when
     * available, else the decomposed SameDiff ops ({@link FusedOps#rmsNorm}).
     */
    public static SDVariable rmsNorm(SameDiff sd, SDVariable x, SDVariable weight, double eps) {
        return FusedOps.rmsNorm(sd, x, weight, eps);
    }

    /**
     * RoPE tables from per-token positions (any shape and numeric type, flattened to [M]): {cos, sin}, each [M,D] of
     * {@code dt}; angle[t, j] = position[t] * invFreq[j mod D/2] with the inverse frequencies of {@code scaling}
     * ({@link RopeScaling#inverseFrequencies}). As in transformers, the angle is one product rounded to {@code dt}.
     */
    public static SDVariable[] ropeTables(SameDiff sd, SDVariable position, int headDim, double theta,
                                          RopeScaling scaling, DataType dt) {
        int d = headDim;
        double[] half = scaling.inverseFrequencies(d, theta);
        double[] invFreq = new double[d];
        for (int j = 0; j < d / 2; j++) {
            invFreq[j] = half[j];
            invFreq[j + d / 2] = half[j];
        }
        SDVariable pos = position.dataType() == dt ? position : position.castTo(dt);
        SDVariable angle = sd.mmul(sd.reshape(pos, -1, 1),
                sd.constant(Nd4j.createFromArray(invFreq).castTo(dt).reshape(1, d)));   // [M,D]
        return new SDVariable[]{sd.math().cos(angle), sd.math().sin(angle)};        // [M,D] each
    }

    /** {@link #ropeTables(SameDiff, SDVariable, int, double, RopeScaling, DataType)} without scaling. */
    public static SDVariable[] ropeTables(SameDiff sd, SDVariable position, int headDim, double theta,
                                          DataType dt) {
        return ropeTables(sd, position, headDim, theta, RopeScaling.NONE, dt);
    }

    /**
     * HF apply_rotary_pos_emb (rotate-half) on x [M, heads*D] with {@link #ropeTables}; returned as [M, heads*D]
     * ({@link FusedOps#rope}).
     */
    public static SDVariable rope(SameDiff sd, SDVariable x, SDVariable[] tables) {
        return FusedOps.rope(sd, x, tables[0], tables[1]);
    }

    /**
     * Log-softmax of each row of logits [N,V] read at its label (token ids [N], any numeric type): [N]
     * ({@link FusedOps#labelLogProbs}).
     */
    public static SDVariable labelLogProbs(SameDiff sd, SDVariable logits, SDVariable labels, int vocabSize) {
        return FusedOps.labelLogProbs(sd, logits, labels, vocabSize);
    }

    /**
     * The LM head and the label log-probs in one: log-softmax(hidden head^T)[n, label[n]] for hidden [N,H], head
     * [V,H] (HF layout; bfloat16 when frozen) and labels [N]: [N] ({@link FusedOps#lmHeadLabelLogProbs}, which never
     * materialises the [N,V] logits).
     */
    public static SDVariable lmHeadLabelLogProbs(SameDiff sd, SDVariable hidden, SDVariable head, SDVariable labels,
                                                 int vocabSize) {
        return FusedOps.lmHeadLabelLogProbs(sd, hidden, head, labels, vocabSize);
    }

    /** SwiGLU activation silu(gate) * up of [M,I] ({@link FusedOps#swiGlu}). */
    public static SDVariable swiGlu(SameDiff sd, SDVariable gate, SDVariable up) {
        return FusedOps.swiGlu(sd, gate, up);
    }
}
