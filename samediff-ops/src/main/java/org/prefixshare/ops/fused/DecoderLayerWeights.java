package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;

import java.util.ArrayList;
import java.util.List;

/**
 * The parameters of one Llama / Mistral / Qwen2 decoder layer, in Hugging Face's layouts (Linear weights
 * {@code [out, in]}): the two RMSNorm weights {@code [H]}, the attention projections q {@code [Hq*D, H]}, k and v
 * {@code [Hkv*D, H]}, o {@code [H, Hq*D]}, the MLP's gate and up {@code [I, H]} and down {@code [H, I]}, and the
 * optional q/k/v biases (Qwen2; all three or none).
 */
public record DecoderLayerWeights(SDVariable inputNorm, SDVariable qProj, SDVariable kProj, SDVariable vProj,
                                  SDVariable oProj, SDVariable postAttentionNorm, SDVariable gateProj,
                                  SDVariable upProj, SDVariable downProj, SDVariable qBias, SDVariable kBias,
                                  SDVariable vBias) {

    /** Number of weights without biases. */
    static final int WEIGHTS = 9;

    public DecoderLayerWeights {
        boolean any = qBias != null || kBias != null || vBias != null;
        boolean all = qBias != null && kBias != null && vBias != null;
        if (any && !all) {
            throw new IllegalArgumentException("q, k and v biases come together (Qwen2) or not at all");
        }
        for (SDVariable w : new SDVariable[]{inputNorm, qProj, kProj, vProj, oProj, postAttentionNorm, gateProj,
                upProj, downProj}) {
            if (w == null) {
                throw new IllegalArgumentException("every decoder layer weight is required (only biases are optional)");
            }
        }
    }

    /** Whether the layer has q/k/v biases. */
    public boolean hasBias() {
        return qBias != null;
    }

    /** The weights in the op's input order: the nine weights, then the biases when present. */
    List<SDVariable> inOrder() {
        List<SDVariable> l = new ArrayList<>(List.of(inputNorm, qProj, kProj, vProj, oProj, postAttentionNorm,
                gateProj, upProj, downProj));
        if (hasBias()) {
            l.addAll(List.of(qBias, kBias, vBias));
        }
        return l;
    }
}
