package org.prefixshare.layers;

import org.prefixshare.model.DecoderMath;
import org.deeplearning4j.nn.conf.layers.samediff.SDVertexParams;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

import java.util.Map;

/**
 * Prefix-shared causal self-attention as a {@code ComputationGraph} vertex: q/k/v projections (HF {@code [out, in]}
 * weights, optional q/k/v biases), rotate-half RoPE from the {@code position} input, GQA (query head h reads kv head
 * {@code h / (numHeads / numKvHeads)}), the prefix-shared attention op over {@code node}/{@code subtreeEnd}, and
 * o_proj. No norm and no residual: {@link DecoderBlock} is the whole pre-norm block.
 *
 * <p>Inputs, in order: {@code input} (hidden states [B,H,T] for NCW, [B,T,H] for NWC), {@code position},
 * {@code node}, {@code subtreeEnd} ([B,T] each, in the network's float type). Output: like {@code input}.
 * Parameters (keys = HF names relative to the attention module, e.g. vertex {@code model.layers.0.self_attn}):
 * {@code q_proj.weight}, {@code k_proj.weight}, {@code v_proj.weight}, [{@code q_proj.bias}, ...],
 * {@code o_proj.weight}.
 *
 * <pre>{@code
 * .addVertex("attn", new PrefixSharedSelfAttention.Builder().hiddenSize(64).numHeads(4).numKvHeads(2).build(),
 *         "norm", "position", "node", "subtreeEnd")
 * }</pre>
 */
public class PrefixSharedSelfAttention extends AbstractAttentionVertex {

    /** For JSON. */
    public PrefixSharedSelfAttention() {
    }

    protected PrefixSharedSelfAttention(Builder b) {
        super(b);
    }

    @Override
    public void defineParametersAndInputs(SDVertexParams params) {
        params.defineInputs(ParamKeys.INPUT, ParamKeys.POSITION, ParamKeys.NODE, ParamKeys.SUBTREE_END);
        defineAttentionParams(params, "");
    }

    @Override
    public SDVariable defineVertex(SameDiff sd, Map<String, SDVariable> in, Map<String, SDVariable> p,
                                   Map<String, SDVariable> masks) {
        SDVariable x = in.get(ParamKeys.INPUT);
        SDVariable position = in.get(ParamKeys.POSITION);
        SDVariable rows = LayerMath.toRows(sd, x, dataFormat, hiddenSize);
        SDVariable[] rope = DecoderMath.ropeTables(sd, position, headDim, ropeTheta, x.dataType());
        SDVariable out = LayerMath.attention(sd, rows, p, "", attentionShape(), rope, position,
                in.get(ParamKeys.NODE), in.get(ParamKeys.SUBTREE_END));
        return LayerMath.fromRows(sd, out, position, dataFormat, hiddenSize);
    }

    @Override
    public GraphVertex clone() {
        PrefixSharedSelfAttention c = new PrefixSharedSelfAttention();
        c.copyFrom(this);
        return c;
    }

    @Override
    public String toString() {
        return "PrefixSharedSelfAttention" + key();
    }

    /** Builder; see the setters of {@link AbstractAttentionVertex.Builder}. */
    public static class Builder extends AbstractAttentionVertex.Builder<Builder> {
        /** Validates (messages name the layer and the value) and builds. */
        public PrefixSharedSelfAttention build() {
            validate("PrefixSharedSelfAttention");
            return new PrefixSharedSelfAttention(this);
        }
    }
}
