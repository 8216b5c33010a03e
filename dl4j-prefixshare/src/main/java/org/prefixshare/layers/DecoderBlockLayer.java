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
import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.util.Collection;
import java.util.Map;
import java.util.Objects;

/**
 * {@link DecoderBlock} as a layer of a {@code MultiLayerNetwork}: one Llama / Mistral / Qwen2 decoder layer with
 * prefix-shared attention, reading and returning {@code [B, H + 3, T]} (the hidden states with the row layout
 * behind them, see {@link LayoutChannels}), so a plain {@code ListBuilder} stack of {@link PrefixSharedEmbedding},
 * these layers and {@link DpoOutputLayer} ({@code layoutChannels(3)}) is the whole decoder. The math, parameters
 * (HF names relative to the layer, {@link ParamKeys}) and options are those of the {@link DecoderBlock} it holds.
 *
 * <pre>{@code
 * .layer(new DecoderBlockLayer.Builder().block(new DecoderBlock.Builder().hiddenSize(64).numHeads(4)
 *         .numKvHeads(2).intermediateSize(176).build()).build())
 * }</pre>
 */
public class DecoderBlockLayer extends SameDiffLayer {

    @JsonProperty
    private DecoderBlock block;

    /** For JSON. */
    public DecoderBlockLayer() {
    }

    protected DecoderBlockLayer(Builder b) {
        super(b);
        this.block = b.block;
    }

    /** The block's configuration. */
    public DecoderBlock getBlock() {
        return block;
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        block.defineBlockParameters(params);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        block.initializeParameters(params);
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable input, Map<String, SDVariable> params, SDVariable mask) {
        DpoOutputLayer.registerOps();
        int h = block.getHiddenSize();
        SDVariable hidden = LayoutChannels.channels(input, 0, h);                               // [B,H,T]
        SDVariable position = LayoutChannels.channel(input, h);                                 // [B,T]
        SDVariable node = LayoutChannels.channel(input, h + 1);
        SDVariable subtreeEnd = LayoutChannels.channel(input, h + 2);
        SDVariable rows = LayerMath.toRows(sd, hidden, RNNFormat.NCW, h);                       // [BT,H]
        rows = block.blockRows(sd, rows, params, position, node, subtreeEnd);
        SDVariable out = LayerMath.fromRows(sd, rows, position, RNNFormat.NCW, h);              // [B,H,T]
        return LayoutChannels.withLayout(sd, out, LayoutChannels.channels(input, h, h + LayoutChannels.LAYOUT));
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int layerIndex,
                             INDArray paramsView, boolean initializeParams, DataType networkDataType) {
        DpoOutputLayer.registerOps();
        HalvedEpsilonSameDiffLayer ret = new HalvedEpsilonSameDiffLayer(conf, networkDataType,
                "DecoderBlockLayer" + (getLayerName() == null ? " " + layerIndex : " '" + getLayerName() + "'"));
        ret.setIndex(layerIndex);
        ret.setParamsViewArray(paramsView);
        ret.setParamTable(initializer().init(conf, paramsView, initializeParams));
        ret.setConf(conf);
        return ret;
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return InputType.recurrent(block.getHiddenSize() + LayoutChannels.LAYOUT, RNNFormat.NCW);
    }

    @Override
    public char paramReshapeOrder(String param) {
        return 'c';
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DecoderBlockLayer d && super.equals(o) && Objects.equals(block, d.block);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), block);
    }

    @Override
    public String toString() {
        return "DecoderBlockLayer" + block.key();
    }

    /** Builder: the block's configuration, from a {@link DecoderBlock.Builder} or a decoder config. */
    public static class Builder extends SameDiffLayer.Builder<Builder> {
        private DecoderBlock block;

        /** The block (NCW; its sizes, attention implementation and initialisation). */
        public Builder block(DecoderBlock b) {
            this.block = b;
            return this;
        }

        /** A block with all sizes of a decoder config and the given attention implementation. */
        public Builder fromDecoderConfig(org.prefixshare.model.DecoderConfig c, String attentionImplementation) {
            return block(new DecoderBlock.Builder().fromDecoderConfig(c)
                    .attentionImplementation(attentionImplementation).build());
        }

        @Override
        @SuppressWarnings("unchecked")
        public DecoderBlockLayer build() {
            Preconditions.checkArgument(block != null, "DecoderBlockLayer: block is required (a DecoderBlock)");
            Preconditions.checkArgument(block.getDataFormat() == RNNFormat.NCW,
                    "DecoderBlockLayer: the block must use NCW (the layer reads [B, H + 3, T]), got %s",
                    block.getDataFormat());
            return new DecoderBlockLayer(this);
        }
    }
}
