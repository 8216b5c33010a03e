package org.prefixshare.layers;

import org.prefixshare.model.DecoderMath;
import org.prefixshare.ops.fused.DecoderLayerWeights;
import org.prefixshare.ops.fused.FusedOps;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.conf.layers.samediff.SDVertexParams;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.common.base.Preconditions;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One Llama / Mistral / Qwen2 decoder layer as a {@code ComputationGraph} vertex, with prefix-shared attention:
 * {@code h += o_proj(attn(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))} with {@code n = input_layernorm(h)}, then
 * {@code h += down_proj(silu(gate_proj(n')) * up_proj(n'))} with {@code n' = post_attention_layernorm(h)}: exactly
 * the layer of {@link org.prefixshare.model.DecoderModel}.
 *
 * <p>Inputs, in order: {@code input} (hidden states [B,H,T] for NCW, [B,T,H] for NWC), {@code position},
 * {@code node}, {@code subtreeEnd} ([B,T] each). Output: like {@code input}. Parameter keys are HF names relative to
 * the layer, so a vertex named {@code model.layers.3} holds {@code model.layers.3.self_attn.q_proj.weight} as key
 * {@code self_attn.q_proj.weight} ({@link ParamKeys}).
 *
 * <pre>{@code
 * .addVertex("model.layers.0", new DecoderBlock.Builder().hiddenSize(64).numHeads(4).numKvHeads(2)
 *         .intermediateSize(176).build(), "model.embed_tokens", "position", "node", "subtreeEnd")
 * }</pre>
 */
public class DecoderBlock extends AbstractAttentionVertex {

    @JsonProperty
    private int intermediateSize;
    @JsonProperty
    private double rmsNormEps = 1e-6;

    /** For JSON. */
    public DecoderBlock() {
    }

    protected DecoderBlock(Builder b) {
        super(b);
        this.intermediateSize = b.intermediateSize;
        this.rmsNormEps = b.rmsNormEps;
    }

    @Override
    public void defineParametersAndInputs(SDVertexParams params) {
        params.defineInputs(ParamKeys.INPUT, ParamKeys.POSITION, ParamKeys.NODE, ParamKeys.SUBTREE_END);
        defineBlockParameters(params);
    }

    /** The block's parameters (HF names relative to the layer), shared with {@link DecoderBlockLayer}. */
    void defineBlockParameters(SDLayerParams params) {
        params.addBiasParam(ParamKeys.INPUT_LAYERNORM, hiddenSize);
        defineAttentionParams(params, ParamKeys.SELF_ATTN);
        params.addBiasParam(ParamKeys.POST_ATTENTION_LAYERNORM, hiddenSize);
        params.addWeightParam(ParamKeys.MLP + ParamKeys.GATE_PROJ, intermediateSize, hiddenSize);
        params.addWeightParam(ParamKeys.MLP + ParamKeys.UP_PROJ, intermediateSize, hiddenSize);
        params.addWeightParam(ParamKeys.MLP + ParamKeys.DOWN_PROJ, hiddenSize, intermediateSize);
    }

    @Override
    public SDVariable defineVertex(SameDiff sd, Map<String, SDVariable> in, Map<String, SDVariable> p,
                                   Map<String, SDVariable> masks) {
        SDVariable x = in.get(ParamKeys.INPUT);
        SDVariable position = in.get(ParamKeys.POSITION);
        SDVariable h = LayerMath.toRows(sd, x, dataFormat, hiddenSize);                       // [BT,H]
        h = blockRows(sd, h, p, position, in.get(ParamKeys.NODE), in.get(ParamKeys.SUBTREE_END));
        return LayerMath.fromRows(sd, h, position, dataFormat, hiddenSize);
    }

    /**
     * The block on hidden-state rows h [B*T,H] with the layout arrays [B,T]; returns [B*T,H]. Shared with
     * {@link DecoderBlockLayer}.
     */
    SDVariable blockRows(SameDiff sd, SDVariable h, Map<String, SDVariable> p, SDVariable position, SDVariable node,
                         SDVariable subtreeEnd) {
        SDVariable[] rope = DecoderMath.ropeTables(sd, position, headDim, ropeTheta, h.dataType());
        if (FusedOps.decoderLayerEnabled(attentionShape().resolvedImplementation())) {
            // the whole layer as one op (one forward, one backward)
            return FusedOps.decoderLayerInVertex(sd, h, layerWeights(p), rope[0], rope[1], node, subtreeEnd,
                    rmsNormEps, 1.0 / Math.sqrt(headDim));
        }
        SDVariable n = DecoderMath.rmsNorm(sd, h, p.get(ParamKeys.INPUT_LAYERNORM), rmsNormEps);
        h = h.add(LayerMath.attention(sd, n, p, ParamKeys.SELF_ATTN, attentionShape(), rope, position, node,
                subtreeEnd));
        SDVariable n2 = DecoderMath.rmsNorm(sd, h, p.get(ParamKeys.POST_ATTENTION_LAYERNORM), rmsNormEps);
        return h.add(LayerMath.swiglu(sd, n2, p, ParamKeys.MLP));
    }

    private static DecoderLayerWeights layerWeights(Map<String, SDVariable> p) {
        String a = ParamKeys.SELF_ATTN;
        return new DecoderLayerWeights(p.get(ParamKeys.INPUT_LAYERNORM), p.get(a + ParamKeys.Q_PROJ),
                p.get(a + ParamKeys.K_PROJ), p.get(a + ParamKeys.V_PROJ), p.get(a + ParamKeys.O_PROJ),
                p.get(ParamKeys.POST_ATTENTION_LAYERNORM), p.get(ParamKeys.MLP + ParamKeys.GATE_PROJ),
                p.get(ParamKeys.MLP + ParamKeys.UP_PROJ), p.get(ParamKeys.MLP + ParamKeys.DOWN_PROJ),
                p.get(a + ParamKeys.Q_BIAS), p.get(a + ParamKeys.K_BIAS), p.get(a + ParamKeys.V_BIAS));
    }

    public int getIntermediateSize() {
        return intermediateSize;
    }

    public double getRmsNormEps() {
        return rmsNormEps;
    }

    @Override
    protected List<Object> key() {
        List<Object> k = new ArrayList<>(super.key());
        k.add(intermediateSize);
        k.add(rmsNormEps);
        return k;
    }

    @Override
    public GraphVertex clone() {
        DecoderBlock c = new DecoderBlock();
        c.copyFrom(this);
        c.intermediateSize = intermediateSize;
        c.rmsNormEps = rmsNormEps;
        return c;
    }

    @Override
    public String toString() {
        return "DecoderBlock" + key();
    }

    /** Builder; the attention setters are those of {@link AbstractAttentionVertex.Builder}. */
    public static class Builder extends AbstractAttentionVertex.Builder<Builder> {
        private int intermediateSize;
        private double rmsNormEps = 1e-6;

        /** [intermediate_size] SwiGLU MLP width. */
        public Builder intermediateSize(int i) {
            this.intermediateSize = i;
            return this;
        }

        /** [rms_norm_eps] epsilon of both norms (default 1e-6). */
        public Builder rmsNormEps(double eps) {
            this.rmsNormEps = eps;
            return this;
        }

        /** All sizes of a decoder config (attention, MLP width, norm epsilon). */
        @Override
        public Builder fromDecoderConfig(org.prefixshare.model.DecoderConfig c) {
            return super.fromDecoderConfig(c).intermediateSize(c.intermediateSize()).rmsNormEps(c.rmsNormEps());
        }

        /** Validates (messages name the layer and the value) and builds. */
        public DecoderBlock build() {
            validate("DecoderBlock");
            Preconditions.checkArgument(intermediateSize > 0, "DecoderBlock: intermediateSize must be > 0, got %s",
                    intermediateSize);
            Preconditions.checkArgument(rmsNormEps > 0 && rmsNormEps < 1,
                    "DecoderBlock: rmsNormEps must be in (0, 1), got %s", rmsNormEps);
            return new DecoderBlock(this);
        }
    }
}
