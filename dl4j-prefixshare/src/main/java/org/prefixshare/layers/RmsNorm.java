package org.prefixshare.layers;

import org.prefixshare.model.DecoderMath;
import org.nd4j.shade.jackson.annotation.JsonProperty;

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

import java.util.Collection;
import java.util.Map;
import java.util.Objects;

/**
 * Hugging Face {@code LlamaRMSNorm} as a DL4J layer: {@code weight * x / sqrt(mean(x^2) + eps)} over the feature
 * axis of recurrent activations ([B,H,T] for NCW, [B,T,H] for NWC). One parameter, {@value ParamKeys#NORM_WEIGHT}
 * [H] (initialised to 1). Carries the M2.1 gradient fix ({@link HalvedEpsilonSameDiffLayer}).
 */
public class RmsNorm extends SameDiffLayer {

    @JsonProperty
    private int size;
    @JsonProperty
    private double eps = 1e-6;
    @JsonProperty
    private RNNFormat dataFormat = RNNFormat.NCW;

    /** For JSON. */
    public RmsNorm() {
    }

    protected RmsNorm(Builder b) {
        super(b);
        this.size = b.size;
        this.eps = b.eps;
        this.dataFormat = b.dataFormat;
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addBiasParam(ParamKeys.NORM_WEIGHT, size);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        params.get(ParamKeys.NORM_WEIGHT).assign(1.0);
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable input, Map<String, SDVariable> params, SDVariable mask) {
        if (dataFormat == RNNFormat.NWC) {
            SDVariable rows = sd.reshape(input, -1, size);
            SDVariable n = DecoderMath.rmsNorm(sd, rows, params.get(ParamKeys.NORM_WEIGHT), eps);
            return sd.reshape(n, sd.shape(input));
        }
        SDVariable btH = sd.permute(input, 0, 2, 1);
        SDVariable n = DecoderMath.rmsNorm(sd, sd.reshape(btH, -1, size), params.get(ParamKeys.NORM_WEIGHT), eps);
        return sd.permute(sd.reshape(n, sd.shape(btH)), 0, 2, 1);
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int layerIndex,
                             INDArray paramsView, boolean initializeParams, DataType networkDataType) {
        HalvedEpsilonSameDiffLayer ret = new HalvedEpsilonSameDiffLayer(conf, networkDataType);
        ret.setIndex(layerIndex);
        ret.setParamsViewArray(paramsView);
        ret.setParamTable(initializer().init(conf, paramsView, initializeParams));
        ret.setConf(conf);
        return ret;
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return inputType;
    }

    @Override
    public char paramReshapeOrder(String param) {
        return 'c';
    }

    public int getSize() {
        return size;
    }

    public double getEps() {
        return eps;
    }

    public RNNFormat getDataFormat() {
        return dataFormat;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RmsNorm r && super.equals(o) && size == r.size && eps == r.eps
                && dataFormat == r.dataFormat;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), size, eps, dataFormat);
    }

    /** Builder. */
    public static class Builder extends SameDiffLayer.Builder<Builder> {
        private int size;
        private double eps = 1e-6;
        private RNNFormat dataFormat = RNNFormat.NCW;

        /** [hidden_size] the normalised axis' size. */
        public Builder size(int h) {
            this.size = h;
            return this;
        }

        /** [rms_norm_eps] (default 1e-6). */
        public Builder eps(double e) {
            this.eps = e;
            return this;
        }

        /** NCW [B,H,T] (default) or NWC [B,T,H]. */
        public Builder dataFormat(RNNFormat f) {
            this.dataFormat = f;
            return this;
        }

        @Override
        @SuppressWarnings("unchecked")
        public RmsNorm build() {
            Preconditions.checkArgument(size > 0, "RmsNorm%s: size must be > 0, got %s",
                    layerName == null ? "" : " '" + layerName + "'", size);
            Preconditions.checkArgument(eps > 0 && eps < 1, "RmsNorm: eps must be in (0, 1), got %s", eps);
            Preconditions.checkArgument(dataFormat != null, "RmsNorm: dataFormat is required (NCW or NWC)");
            return new RmsNorm(this);
        }
    }
}
