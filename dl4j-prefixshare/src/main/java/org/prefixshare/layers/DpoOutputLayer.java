package org.prefixshare.layers;

import org.prefixshare.model.DecoderMath;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffOutputLayer;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.common.base.Preconditions;
import org.nd4j.imports.converters.ImportClassMapping;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.prefixshare.loss.DpoLoss;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.loss.LossType;
import org.prefixshare.loss.PairLogps;
import org.prefixshare.model.GatherRows;
import org.prefixshare.model.GatherRowsBp;
import org.prefixshare.ops.attention.PrefixShareOps;

import java.util.Arrays;
import java.util.Collection;
import java.util.Map;
import java.util.Objects;

/**
 * The DPO-family loss as a DL4J output layer: the final RMSNorm ({@value ParamKeys#FINAL_NORM}), the LM head
 * ({@value ParamKeys#LM_HEAD}, [V,H]) at the labelled positions only, log-softmax in max-subtract form, per-sequence
 * log-probs by a 0/1 segment matrix, one-hot pair selection, and {@link DpoLoss} with any {@link LossConfig} (one
 * loss or a weighted mix; TRL's names and metrics). Exactly the scoring and loss of
 * {@link org.prefixshare.model.DecoderModel} + {@link org.prefixshare.train.DpoObjective}.
 *
 * <p><b>Labels.</b> One float array {@code [B, K, T]} packed by {@link DpoLabels} (per-token label and sequence
 * index, the sequence table in spare positions, the BCO baseline): DL4J's {@code SameDiffOutputLayer} takes exactly
 * one labels array. {@link DpoGraphIterator} produces it from our iterators.
 *
 * <p><b>Score.</b> The layer's output variable is {@code B * loss} (B = rows): DL4J divides the score by B and, with
 * {@code miniBatch(true)} (its default), the gradient too, so {@code score()} is the DPO loss and the applied
 * gradient is the loss's. Keep {@code miniBatch(true)}.
 *
 * <p><b>Activations.</b> {@code output(...)} returns next-token logits at every position, [B,V,T] (NCW) or [B,T,V]
 * (NWC): labels are not needed for inference.
 *
 * <p><b>Input.</b> Hidden states {@code [B,H,T]} (NCW) or {@code [B,T,H]} (NWC); in a {@code MultiLayerNetwork}
 * {@code [B, H + 3, T]} with {@code layoutChannels(3)} (the row layout behind the hidden states, see
 * {@link LayoutChannels}).
 *
 * <p><b>Reference.</b> Losses that need reference log-probs read them from the labels; {@link FrozenReference}
 * computes them with a frozen copy of the network (precomputed per example, or live per batch).
 *
 * <p>Metrics of the last scored batch (loss, rewards/*, logps/*) are kept by the layer and reported by
 * {@link DpoMetricsListener}.
 */
public class DpoOutputLayer extends SameDiffOutputLayer {

    /** Name of the all-positions logits variable (the layer's activations). */
    public static final String LOGITS = "dpo_logits";
    /** Name of the per-sequence log-probs variable [S]. */
    public static final String LOGPS = "dpo_logps";
    /** Name of the output (loss times rows) variable. */
    public static final String SCALED_LOSS = "dpo_scaled_loss";

    @JsonProperty
    private int hiddenSize;
    @JsonProperty
    private int vocabSize;
    @JsonProperty
    private double rmsNormEps = 1e-6;
    @JsonProperty
    private RNNFormat dataFormat = RNNFormat.NCW;
    @JsonProperty
    private double initStd = 0.02;
    @JsonProperty
    private String lossTypes = "sigmoid";
    @JsonProperty
    private double beta = LossConfig.DEFAULT_BETA;
    @JsonProperty
    private double labelSmoothing;
    @JsonProperty
    private double simpoGamma = LossConfig.DEFAULT_SIMPO_GAMMA;
    @JsonProperty
    private double cpoAlpha = LossConfig.DEFAULT_CPO_ALPHA;
    @JsonProperty
    private double discopopTau = LossConfig.DEFAULT_DISCOPOP_TAU;
    @JsonProperty
    private int layoutChannels;

    /** For JSON. */
    public DpoOutputLayer() {
    }

    protected DpoOutputLayer(Builder b) {
        this.hiddenSize = b.hiddenSize;
        this.vocabSize = b.vocabSize;
        this.rmsNormEps = b.rmsNormEps;
        this.dataFormat = b.dataFormat;
        this.initStd = b.initStd;
        this.layoutChannels = b.layoutChannels;
        LossConfig l = b.loss;
        this.lossTypes = String.join(",", l.terms().stream().map(LossConfig.Term::toString).toList());
        this.beta = l.beta();
        this.labelSmoothing = l.labelSmoothing();
        this.simpoGamma = l.simpoGamma();
        this.cpoAlpha = l.cpoAlpha();
        this.discopopTau = l.discopopTau();
        this.layerName = b.layerName;
        this.updater = b.updater;
    }

    /** The loss configuration (rebuilt from the JSON-friendly fields). */
    public LossConfig lossConfig() {
        return new LossConfig(beta, labelSmoothing, simpoGamma, cpoAlpha, discopopTau,
                LossConfig.Term.parseList(lossTypes));
    }

    static synchronized void registerOps() {
        PrefixShareOps.init();
        Map<String, org.nd4j.autodiff.functions.DifferentialFunction> m = ImportClassMapping.getOpNameMapping();
        m.putIfAbsent(GatherRows.OP_NAME, new GatherRows());
        m.putIfAbsent(GatherRowsBp.OP_NAME, new GatherRowsBp());
        m.putIfAbsent(DpoLabelDecode.OP_NAME, new DpoLabelDecode());
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addBiasParam(ParamKeys.FINAL_NORM, hiddenSize);
        params.addWeightParam(ParamKeys.LM_HEAD, vocabSize, hiddenSize);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        LayerMath.initialize(params, initStd);
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable input, SDVariable labels, Map<String, SDVariable> p) {
        registerOps();
        LossConfig loss = lossConfig();
        DataType dt = input.dataType();
        if (layoutChannels > 0) {
            input = LayoutChannels.channels(input, 0, hiddenSize);   // [B,H,T]: the layout channels are not read
        }
        SDVariable h = DecoderMath.rmsNorm(sd, LayerMath.toRows(sd, input, dataFormat, hiddenSize),
                p.get(ParamKeys.FINAL_NORM), rmsNormEps);                                     // [BT,H]
        SDVariable head = p.get(ParamKeys.LM_HEAD);

        // inference: logits at every position, in the layer's recurrent format
        SDVariable all = DecoderMath.linear(sd, h, head, null);                              // [BT,V]
        int tAxis = dataFormat == RNNFormat.NCW ? 2 : 1;
        SDVariable btv = sd.concat(0, sd.sizeAt(input, 0).reshape(1).castTo(DataType.LONG),
                sd.sizeAt(input, tAxis).reshape(1).castTo(DataType.LONG),
                sd.constant(org.nd4j.linalg.factory.Nd4j.createFromArray(new long[]{vocabSize})));
        SDVariable logits3 = sd.reshape(all, btv);                                          // [B,T,V]
        sd.identity(LOGITS, dataFormat == RNNFormat.NCW ? sd.permute(logits3, 0, 2, 1) : logits3);

        // training: the LM head at the labelled positions only
        SDVariable[] d = new DpoLabelDecode(sd, labels, vocabSize, loss.needsReference()).outputVariables();
        SDVariable hl = new GatherRows(sd, h, d[0]).outputVariable();                         // [N,H]
        SDVariable logits = DecoderMath.linear(sd, hl, head, null);                          // [N,V]
        SDVariable tokenLogps = DecoderMath.labelLogProbs(sd, logits, d[1], vocabSize);      // [N]
        SDVariable perSeq = sd.mmul(d[2], sd.reshape(tokenLogps, -1, 1));                    // [S,1]
        SDVariable logps = sd.reshape(LOGPS, perSeq, -1);                                    // [S]
        PairLogps pairs = PairLogps.fromSelections(logps, loss.needsReference() ? d[6] : null, d[5], d[3], d[4]);
        if (loss.contains(LossType.BCO_PAIR)) {
            pairs = pairs.withBcoDelta(d[7]);
        }
        SDVariable l = DpoLoss.build(sd, pairs, loss);
        SDVariable rows = sd.sizeAt(input, 0).castTo(dt);
        SDVariable scaled = sd.identity(SCALED_LOSS, l.mul(rows));
        sd.setLossVariables(scaled.name());
        return scaled;
    }

    @Override
    public String activationsVertexName() {
        return LOGITS;
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int layerIndex,
                             INDArray paramsView, boolean initializeParams, DataType networkDataType) {
        registerOps();
        DpoOutputLayerImpl ret = new DpoOutputLayerImpl(conf, networkDataType);
        ret.setIndex(layerIndex);
        ret.setParamsViewArray(paramsView);
        ret.setParamTable(initializer().init(conf, paramsView, initializeParams));
        ret.setConf(conf);
        return ret;
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return InputType.recurrent(vocabSize, dataFormat);
    }

    @Override
    public char paramReshapeOrder(String param) {
        return 'c';
    }

    public int getHiddenSize() {
        return hiddenSize;
    }

    public int getVocabSize() {
        return vocabSize;
    }

    public double getRmsNormEps() {
        return rmsNormEps;
    }

    public RNNFormat getDataFormat() {
        return dataFormat;
    }

    /** Trailing input channels that carry the row layout and are not read (3 in a MultiLayerNetwork, else 0). */
    public int getLayoutChannels() {
        return layoutChannels;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DpoOutputLayer x && super.equals(o) && key().equals(x.key());
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), key());
    }

    private java.util.List<Object> key() {
        return Arrays.asList(hiddenSize, vocabSize, rmsNormEps, dataFormat, initStd, lossTypes, beta, labelSmoothing,
                simpoGamma, cpoAlpha, discopopTau, layoutChannels);
    }

    @Override
    public String toString() {
        return "DpoOutputLayer" + key();
    }

    /** Builder: sizes, then the loss (default: DPO sigmoid, beta 0.1). */
    public static class Builder {
        private int hiddenSize;
        private int vocabSize;
        private double rmsNormEps = 1e-6;
        private RNNFormat dataFormat = RNNFormat.NCW;
        private double initStd = 0.02;
        private LossConfig loss = LossConfig.defaults();
        private int layoutChannels;
        private String layerName;
        private IUpdater updater;

        /** [hidden_size] input width. */
        public Builder hiddenSize(int h) {
            this.hiddenSize = h;
            return this;
        }

        /** [vocab_size] LM head outputs. */
        public Builder vocabSize(int v) {
            this.vocabSize = v;
            return this;
        }

        /** [rms_norm_eps] of the final norm (default 1e-6). */
        public Builder rmsNormEps(double e) {
            this.rmsNormEps = e;
            return this;
        }

        /** NCW [B,H,T] (default) or NWC [B,T,H] input. */
        public Builder dataFormat(RNNFormat f) {
            this.dataFormat = f;
            return this;
        }

        /** Standard deviation of the LM head's normal initial weights (default 0.02). */
        public Builder initStd(double s) {
            this.initStd = s;
            return this;
        }

        /**
         * Trailing input channels to ignore: 3 when the input carries the row layout behind the hidden states
         * ({@code [B, H + 3, T]}, the form of {@link DecoderBlockLayer} in a {@code MultiLayerNetwork}; NCW only);
         * 0 (default) in a {@code ComputationGraph}.
         */
        public Builder layoutChannels(int n) {
            this.layoutChannels = n;
            return this;
        }

        /** The loss: one type or a weighted mix, with TRL's parameters ({@link LossConfig}). */
        public Builder loss(LossConfig l) {
            this.loss = l;
            return this;
        }

        /** Shorthand: {@code "sigmoid"}, {@code "sigmoid,sft:0.5"}, ... with TRL's defaults and this beta. */
        public Builder loss(String types, double beta) {
            this.loss = LossConfig.of(LossConfig.Term.parseList(types)).withBeta(beta);
            return this;
        }

        /** Sizes of a decoder config (hidden, vocabulary, norm epsilon). */
        public Builder fromDecoderConfig(org.prefixshare.model.DecoderConfig c) {
            return hiddenSize(c.hiddenSize()).vocabSize(c.vocabSize()).rmsNormEps(c.rmsNormEps());
        }

        public Builder name(String n) {
            this.layerName = n;
            return this;
        }

        /** Updater of this layer only (default: the network's). */
        public Builder updater(IUpdater u) {
            this.updater = u;
            return this;
        }

        /** Validates (messages name the layer and the value) and builds. */
        public DpoOutputLayer build() {
            Preconditions.checkArgument(hiddenSize > 0, "DpoOutputLayer: hiddenSize must be > 0, got %s", hiddenSize);
            Preconditions.checkArgument(vocabSize > 0, "DpoOutputLayer: vocabSize must be > 0, got %s", vocabSize);
            Preconditions.checkArgument(rmsNormEps > 0 && rmsNormEps < 1,
                    "DpoOutputLayer: rmsNormEps must be in (0, 1), got %s", rmsNormEps);
            Preconditions.checkArgument(dataFormat != null, "DpoOutputLayer: dataFormat is required (NCW or NWC)");
            Preconditions.checkArgument(loss != null, "DpoOutputLayer: loss is required (e.g. LossConfig.defaults())");
            Preconditions.checkArgument(initStd >= 0 && !Double.isInfinite(initStd),
                    "DpoOutputLayer: initStd must be finite and >= 0, got %s", initStd);
            Preconditions.checkArgument(layoutChannels == 0 || layoutChannels == LayoutChannels.LAYOUT,
                    "DpoOutputLayer: layoutChannels must be 0 or %s, got %s", LayoutChannels.LAYOUT, layoutChannels);
            Preconditions.checkArgument(layoutChannels == 0 || dataFormat == RNNFormat.NCW,
                    "DpoOutputLayer: layoutChannels needs NCW input [B, H + 3, T], got %s", dataFormat);
            return new DpoOutputLayer(this);
        }
    }
}
