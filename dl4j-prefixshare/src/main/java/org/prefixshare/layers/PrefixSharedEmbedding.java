package org.prefixshare.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.common.base.Preconditions;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.shade.jackson.annotation.JsonProperty;
import org.prefixshare.model.GatherRows;

import java.util.Collection;
import java.util.Map;
import java.util.Objects;

/**
 * The first layer of a prefix-shared {@code MultiLayerNetwork}: reads the features {@code [B, 4, T]} of
 * {@link LayoutChannels} (token, position, node, subtreeEnd), looks the tokens up in the embedding table
 * {@value #WEIGHT} {@code [V, H]} (Hugging Face's {@code model.embed_tokens.weight}) and returns the hidden states
 * with the layout behind them, {@code [B, H + 3, T]}, for the {@link DecoderBlockLayer}s that follow.
 *
 * <pre>{@code
 * .layer(new PrefixSharedEmbedding.Builder().vocabSize(260).hiddenSize(64).build())
 * }</pre>
 */
public class PrefixSharedEmbedding extends SameDiffLayer {

    /** The embedding table's key. */
    public static final String WEIGHT = "weight";

    @JsonProperty
    private int vocabSize;
    @JsonProperty
    private int hiddenSize;
    @JsonProperty
    private double initStd = 0.02;

    /** For JSON. */
    public PrefixSharedEmbedding() {
    }

    protected PrefixSharedEmbedding(Builder b) {
        super(b);
        this.vocabSize = b.vocabSize;
        this.hiddenSize = b.hiddenSize;
        this.initStd = b.initStd;
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addWeightParam(WEIGHT, vocabSize, hiddenSize);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        INDArray w = params.get(WEIGHT);
        w.assign(Nd4j.randn(w.dataType(), w.shape()).muli(initStd));
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable input, Map<String, SDVariable> params, SDVariable mask) {
        DpoOutputLayer.registerOps();
        SDVariable token = LayoutChannels.channel(input, LayoutChannels.TOKEN);                 // [B,T]
        SDVariable rows = new GatherRows(sd, params.get(WEIGHT), sd.reshape(token, -1)).outputVariable(); // [BT,H]
        SDVariable hidden = LayerMath.fromRows(sd, rows, token, RNNFormat.NCW, hiddenSize);     // [B,H,T]
        SDVariable layout = LayoutChannels.channels(input, LayoutChannels.POSITION, LayoutChannels.FEATURES);
        return LayoutChannels.withLayout(sd, hidden, layout);                                   // [B,H+3,T]
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int layerIndex,
                             INDArray paramsView, boolean initializeParams, DataType networkDataType) {
        DpoOutputLayer.registerOps();
        HalvedEpsilonSameDiffLayer ret = new HalvedEpsilonSameDiffLayer(conf, networkDataType,
                "PrefixSharedEmbedding" + (getLayerName() == null ? "" : " '" + getLayerName() + "'"));
        ret.setIndex(layerIndex);
        ret.setParamsViewArray(paramsView);
        ret.setParamTable(initializer().init(conf, paramsView, initializeParams));
        ret.setConf(conf);
        return ret;
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return InputType.recurrent(hiddenSize + LayoutChannels.LAYOUT, RNNFormat.NCW);
    }

    @Override
    public char paramReshapeOrder(String param) {
        return 'c';
    }

    public int getVocabSize() {
        return vocabSize;
    }

    public int getHiddenSize() {
        return hiddenSize;
    }

    public double getInitStd() {
        return initStd;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PrefixSharedEmbedding e && super.equals(o) && vocabSize == e.vocabSize
                && hiddenSize == e.hiddenSize && initStd == e.initStd;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), vocabSize, hiddenSize, initStd);
    }

    @Override
    public String toString() {
        return "PrefixSharedEmbedding[vocab=" + vocabSize + ", hidden=" + hiddenSize + "]";
    }

    /** Builder. */
    public static class Builder extends SameDiffLayer.Builder<Builder> {
        private int vocabSize;
        private int hiddenSize;
        private double initStd = 0.02;

        /** [vocab_size] rows of the table. */
        public Builder vocabSize(int v) {
            this.vocabSize = v;
            return this;
        }

        /** [hidden_size] width of the hidden states. */
        public Builder hiddenSize(int h) {
            this.hiddenSize = h;
            return this;
        }

        /** Standard deviation of the normal initial table (HF initializer_range, default 0.02). */
        public Builder initStd(double s) {
            this.initStd = s;
            return this;
        }

        /** Sizes of a decoder config (vocabulary, hidden). */
        public Builder fromDecoderConfig(org.prefixshare.model.DecoderConfig c) {
            return vocabSize(c.vocabSize()).hiddenSize(c.hiddenSize());
        }

        @Override
        @SuppressWarnings("unchecked")
        public PrefixSharedEmbedding build() {
            Preconditions.checkArgument(vocabSize > 0, "PrefixSharedEmbedding: vocabSize must be > 0, got %s",
                    vocabSize);
            Preconditions.checkArgument(hiddenSize > 0, "PrefixSharedEmbedding: hiddenSize must be > 0, got %s",
                    hiddenSize);
            Preconditions.checkArgument(initStd >= 0 && !Double.isInfinite(initStd),
                    "PrefixSharedEmbedding: initStd must be finite and >= 0, got %s", initStd);
            return new PrefixSharedEmbedding(this);
        }
    }
}
