package org.prefixshare.layers;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The whole decoder of a {@link DecoderConfig} as a DL4J {@link MultiLayerConfiguration} built with
 * {@code ListBuilder}: layer 0 {@link PrefixSharedEmbedding} (reads the {@code [B, 4, T]} features of
 * {@link LayoutChannels}), layers 1..L {@link DecoderBlockLayer}, layer L+1 {@link DpoOutputLayer} with
 * {@code layoutChannels(3)}; and the mapping of its parameters to Hugging Face names. The same math and parameters
 * as {@link DecoderGraph}'s {@code ComputationGraph}; trained with {@code net.fit(PreferenceDataSetIterator)}.
 */
public final class DecoderNetwork {

    private DecoderNetwork() {
    }

    /**
     * The configuration (data type from {@code c.dataType()}).
     *
     * @param c              decoder sizes; tied embeddings are not supported (DL4J layers cannot share a parameter)
     * @param loss           the DPO-family loss
     * @param updater        e.g. {@code new Adam(1e-3)}
     * @param seed           initialisation seed
     * @param implementation attention implementation: auto, native or reference
     */
    public static MultiLayerConfiguration configuration(DecoderConfig c, LossConfig loss, IUpdater updater, long seed,
                                                        String implementation) {
        DecoderGraph.requireExpressible(c);
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(c.dataType())
                .updater(updater)
                .list()
                .layer(new PrefixSharedEmbedding.Builder().fromDecoderConfig(c).build());
        for (int l = 0; l < c.numLayers(); l++) {
            b.layer(new DecoderBlockLayer.Builder().fromDecoderConfig(c, implementation).build());
        }
        return b.layer(new DpoOutputLayer.Builder().fromDecoderConfig(c).loss(loss)
                        .layoutChannels(LayoutChannels.LAYOUT).build())
                .build();
    }

    /**
     * The network's parameters (live views) by Hugging Face name: layer 0's table is {@code model.embed_tokens.weight},
     * layer {@code l + 1}'s keys are relative to {@code model.layers.<l>.}, the output layer's are absolute.
     */
    public static Map<String, INDArray> hfParameters(MultiLayerNetwork net) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        Map<String, INDArray> table = net.paramTable();
        hfNames(net).forEach((k, hf) -> out.put(hf, table.get(k)));
        return out;
    }

    /** DL4J parameter key ({@code <layer index>_<key>}, as in the param and gradient tables) to Hugging Face name. */
    public static Map<String, String> hfNames(MultiLayerNetwork net) {
        int n = net.getnLayers();
        Map<String, String> out = new LinkedHashMap<>();
        for (String k : net.paramTable().keySet()) {
            int us = k.indexOf('_');
            int layer = Integer.parseInt(k.substring(0, us));
            String key = k.substring(us + 1);
            Object conf = net.getLayer(layer).conf().getLayer();
            String hf;
            if (conf instanceof PrefixSharedEmbedding) {
                hf = "model.embed-tokens." + key;
            } else if (conf instanceof DecoderBlockLayer) {
                hf = DecoderGraph.layer(layer - 1) + "." + key;
            } else if (conf instanceof DpoOutputLayer && layer == n - 1) {
                hf = key;
            } else {
                throw new IllegalArgumentException("DecoderNetwork: layer " + layer + " (" + conf.getClass()
                        .getSimpleName() + ") has no Hugging Face name; expected the layers of configuration()");
            }
            out.put(k, hf.replace('-', '_'));
        }
        return out;
    }

    /**
     * Copies parameters by Hugging Face name into the network (the rules of
     * {@link DecoderGraph#setHfParameters}).
     */
    public static void setHfParameters(MultiLayerNetwork net, Map<String, INDArray> values) {
        DecoderGraph.assign(hfParameters(net), values, net.params().dataType(), "DecoderNetwork");
    }
}
