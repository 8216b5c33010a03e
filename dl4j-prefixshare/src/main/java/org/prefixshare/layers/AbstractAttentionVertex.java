package org.prefixshare.layers;

import org.nd4j.shade.jackson.annotation.JsonProperty;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.inputs.InvalidInputTypeException;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.api.MaskState;
import org.nd4j.common.base.Preconditions;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * What {@link PrefixSharedSelfAttention} and {@link DecoderBlock} share: the head layout, RoPE, the four vertex
 * inputs ({@code input} [B,H,T] or [B,T,H], then the layout arrays {@code position}, {@code node},
 * {@code subtreeEnd}, each [B,T] in the network's float type) and the M2.1 gradient fix
 * ({@link HalvedEpsilonGraphVertex}).
 *
 * <p>M2.1 fixes the vertex's placeholder shapes from the first minibatch except dim 0: keep T fixed (the iterators
 * pad every row to the pack length).
 */
public abstract class AbstractAttentionVertex extends SameDiffVertex {

    @JsonProperty
    protected int hiddenSize;
    @JsonProperty
    protected int numHeads;
    @JsonProperty
    protected int numKvHeads;
    @JsonProperty
    protected int headDim;
    @JsonProperty
    protected double ropeTheta = 10000.0;
    @JsonProperty
    protected boolean attentionBias;
    @JsonProperty
    protected RNNFormat dataFormat = RNNFormat.NCW;
    @JsonProperty
    protected String attentionImplementation = "auto";
    @JsonProperty
    protected double initStd = 0.02;

    /** For JSON. */
    protected AbstractAttentionVertex() {
    }

    protected AbstractAttentionVertex(Builder<?> b) {
        this.hiddenSize = b.hiddenSize;
        this.numHeads = b.numHeads;
        this.numKvHeads = b.numKvHeads == 0 ? b.numHeads : b.numKvHeads;
        this.headDim = b.headDim == 0 && b.numHeads > 0 ? b.hiddenSize / b.numHeads : b.headDim;
        this.ropeTheta = b.ropeTheta;
        this.attentionBias = b.attentionBias;
        this.dataFormat = b.dataFormat;
        this.attentionImplementation = b.attentionImplementation;
        this.initStd = b.initStd;
    }

    /** Copies every field (this class's and SameDiffVertex's) from {@code o}; for {@code clone()}. */
    protected void copyFrom(AbstractAttentionVertex o) {
        hiddenSize = o.hiddenSize;
        numHeads = o.numHeads;
        numKvHeads = o.numKvHeads;
        headDim = o.headDim;
        ropeTheta = o.ropeTheta;
        attentionBias = o.attentionBias;
        dataFormat = o.dataFormat;
        attentionImplementation = o.attentionImplementation;
        initStd = o.initStd;
        setName(o.getName());
        setRegularization(o.getRegularization());
        setRegularizationBias(o.getRegularizationBias());
        setUpdater(o.getUpdater() == null ? null : o.getUpdater().clone());
        setBiasUpdater(o.getBiasUpdater() == null ? null : o.getBiasUpdater().clone());
        setGradientNormalization(o.getGradientNormalization());
        setGradientNormalizationThreshold(o.getGradientNormalizationThreshold());
        setDataType(o.getDataType());
    }

    /** The vertex name for messages. */
    protected String describe() {
        return getClass().getSimpleName() + (getName() == null ? "" : " '" + getName() + "'");
    }

    /** Adds the attention block's parameters under {@code prefix}. */
    protected void defineAttentionParams(SDLayerParams p, String prefix) {
        long q = (long) numHeads * headDim;
        long kv = (long) numKvHeads * headDim;
        p.addWeightParam(prefix + ParamKeys.Q_PROJ, q, hiddenSize);
        p.addWeightParam(prefix + ParamKeys.K_PROJ, kv, hiddenSize);
        p.addWeightParam(prefix + ParamKeys.V_PROJ, kv, hiddenSize);
        if (attentionBias) {
            p.addBiasParam(prefix + ParamKeys.Q_BIAS, q);
            p.addBiasParam(prefix + ParamKeys.K_BIAS, kv);
            p.addBiasParam(prefix + ParamKeys.V_BIAS, kv);
        }
        p.addWeightParam(prefix + ParamKeys.O_PROJ, hiddenSize, q);
    }

    protected LayerMath.AttentionShape attentionShape() {
        return new LayerMath.AttentionShape(numHeads, numKvHeads, headDim, attentionImplementation);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        LayerMath.initialize(params, initStd);
    }

    @Override
    public GraphVertex instantiate(ComputationGraph graph, String name, int idx, INDArray paramsView,
                                   boolean initializeParams, DataType networkDatatype) {
        setName(name);
        return new HalvedEpsilonGraphVertex(this, graph, name, idx, paramsView, initializeParams, networkDatatype);
    }

    /** DL4J masks are refused with a message (the row layout already marks padding and scored positions). */
    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArrays(INDArray[] maskArrays, MaskState currentMaskState,
                                                           int minibatchSize) {
        if (maskArrays != null) {
            for (INDArray m : maskArrays) {
                InputGuard.refuseFeatureMask(m, describe());
            }
        }
        return new Pair<>(null, currentMaskState);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType... vertexInputs) throws InvalidInputTypeException {
        return vertexInputs[0];
    }

    @Override
    public char paramReshapeOrder(String paramName) {
        return 'c';
    }

    public int getHiddenSize() {
        return hiddenSize;
    }

    public int getNumHeads() {
        return numHeads;
    }

    public int getNumKvHeads() {
        return numKvHeads;
    }

    public int getHeadDim() {
        return headDim;
    }

    public double getRopeTheta() {
        return ropeTheta;
    }

    public boolean isAttentionBias() {
        return attentionBias;
    }

    public RNNFormat getDataFormat() {
        return dataFormat;
    }

    public String getAttentionImplementation() {
        return attentionImplementation;
    }

    public double getInitStd() {
        return initStd;
    }

    protected List<Object> key() {
        return Arrays.asList(hiddenSize, numHeads, numKvHeads, headDim, ropeTheta, attentionBias, dataFormat,
                attentionImplementation, initStd);
    }

    @Override
    public boolean equals(Object o) {
        return o != null && o.getClass() == getClass() && key().equals(((AbstractAttentionVertex) o).key())
                && Objects.equals(getName(), ((AbstractAttentionVertex) o).getName());
    }

    @Override
    public int hashCode() {
        return Objects.hash(getClass().getName(), key());
    }

    /** Builder fields and checks shared by both vertices. */
    @SuppressWarnings("unchecked")
    public abstract static class Builder<B extends Builder<B>> {
        protected int hiddenSize;
        protected int numHeads;
        protected int numKvHeads;
        protected int headDim;
        protected double ropeTheta = 10000.0;
        protected boolean attentionBias;
        protected RNNFormat dataFormat = RNNFormat.NCW;
        protected String attentionImplementation = "auto";
        protected double initStd = 0.02;

        /** [hidden_size] width of the residual stream. */
        public B hiddenSize(int h) {
            this.hiddenSize = h;
            return (B) this;
        }

        /** [num_attention_heads] query heads. */
        public B numHeads(int n) {
            this.numHeads = n;
            return (B) this;
        }

        /** [num_key_value_heads] key/value heads (GQA); default numHeads. */
        public B numKvHeads(int n) {
            this.numKvHeads = n;
            return (B) this;
        }

        /** [head_dim] per-head width; default hiddenSize / numHeads; even. */
        public B headDim(int d) {
            this.headDim = d;
            return (B) this;
        }

        /** [rope_theta] RoPE base (default 10000). */
        public B ropeTheta(double t) {
            this.ropeTheta = t;
            return (B) this;
        }

        /** [attention_bias] q/k/v projections carry a bias (Qwen2). */
        public B attentionBias(boolean b) {
            this.attentionBias = b;
            return (B) this;
        }

        /** Activation layout: NCW [B,H,T] (DL4J's default, EmbeddingSequenceLayer's default) or NWC [B,T,H]. */
        public B dataFormat(RNNFormat f) {
            this.dataFormat = f;
            return (B) this;
        }

        /** "auto" (native kernels when loaded, else the dense reference), "native" or "reference". */
        public B attentionImplementation(String impl) {
            this.attentionImplementation = impl;
            return (B) this;
        }

        /** Standard deviation of the normal initial weights (HF initializer_range, default 0.02). */
        public B initStd(double s) {
            this.initStd = s;
            return (B) this;
        }

        /** Copies the sizes of a decoder config (hidden, heads, kv heads, head dim, rope theta, attention bias). */
        public B fromDecoderConfig(org.prefixshare.model.DecoderConfig c) {
            return hiddenSize(c.hiddenSize()).numHeads(c.numHeads()).numKvHeads(c.numKvHeads()).headDim(c.headDim())
                    .ropeTheta(c.ropeTheta()).attentionBias(c.attentionBias());
        }

        protected void validate(String layer) {
            Preconditions.checkArgument(hiddenSize > 0, "%s: hiddenSize must be > 0, got %s", layer, hiddenSize);
            Preconditions.checkArgument(numHeads > 0, "%s: numHeads must be > 0, got %s", layer, numHeads);
            int kv = numKvHeads == 0 ? numHeads : numKvHeads;
            Preconditions.checkArgument(kv > 0 && numHeads % kv == 0,
                    "%s: numHeads must be a multiple of numKvHeads, got %s and %s", layer, numHeads, kv);
            int d = headDim == 0 ? hiddenSize / numHeads : headDim;
            Preconditions.checkArgument(d > 0 && d % 2 == 0, "%s: headDim must be even and > 0 (RoPE), got %s",
                    layer, d);
            Preconditions.checkArgument(ropeTheta > 1.0 && !Double.isInfinite(ropeTheta),
                    "%s: ropeTheta must be finite and > 1, got %s", layer, ropeTheta);
            Preconditions.checkArgument(dataFormat != null, "%s: dataFormat is required (NCW or NWC)", layer);
            Preconditions.checkArgument(initStd >= 0 && !Double.isInfinite(initStd),
                    "%s: initStd must be finite and >= 0, got %s", layer, initStd);
            try {
                PrefixShareOpsNames.check(attentionImplementation);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(layer + ": " + e.getMessage());
            }
        }
    }

    /** Validation of the implementation name. */
    static final class PrefixShareOpsNames {
        private PrefixShareOpsNames() {
        }

        static void check(String impl) {
            if (impl == null) {
                throw new IllegalArgumentException("attentionImplementation is required (auto, native, reference)");
            }
            switch (impl.toLowerCase(Locale.ROOT)) {
                case "auto", "native", "reference" -> {
                }
                default -> throw new IllegalArgumentException("attentionImplementation must be auto, native or "
                        + "reference, got '" + impl + "'");
            }
        }
    }
}
