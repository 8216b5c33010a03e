package org.prefixshare.layers;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInitDistribution;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.activations.Activation;
import org.deeplearning4j.nn.conf.distribution.NormalDistribution;
import org.prefixshare.loss.LossConfig;
import org.prefixshare.model.DecoderConfig;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The whole decoder of a {@link DecoderConfig} as a DL4J {@link ComputationGraphConfiguration} of stock and
 * prefixshare parts, and the mapping of its parameters to Hugging Face names.
 *
 * <p>Graph inputs {@code token, position, node, subtreeEnd} ([B,T] each, float); {@code model.embed-tokens}
 * (DL4J's {@link EmbeddingSequenceLayer}, no bias; DL4J names may not contain '_', see {@link ParamKeys}), {@code model.layers.<l>} ({@link DecoderBlock}), output layer
 * {@code dpo} ({@link DpoOutputLayer}). The README's section "Prefix sharing in your ComputationGraph" spells the
 * same configuration out by hand.
 */
public final class DecoderGraph {

    /** Graph input names, in order. */
    public static final String[] INPUTS = {"token", ParamKeys.POSITION, ParamKeys.NODE, ParamKeys.SUBTREE_END};
    /** The embedding layer's name. */
    public static final String EMBED = "model.embed-tokens";
    /** The output layer's name. */
    public static final String OUTPUT = "dpo";

    private DecoderGraph() {
    }

    /** Name of decoder layer l's vertex. */
    public static String layer(int l) {
        return "model.layers." + l;
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
    public static ComputationGraphConfiguration configuration(DecoderConfig c, LossConfig loss, IUpdater updater,
                                                              long seed, String implementation) {
        if (c.tieWordEmbeddings()) {
            throw new IllegalArgumentException("DecoderGraph: tied embeddings (tie_word_embeddings) cannot be "
                    + "expressed in a ComputationGraph (a parameter belongs to one layer); copy "
                    + "model.embed_tokens.weight into lm_head.weight and use an untied config");
        }
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(c.dataType())
                .updater(updater)
                .graphBuilder()
                .addInputs(INPUTS)
                .addLayer(EMBED, new EmbeddingSequenceLayer.Builder()
                        .nIn(c.vocabSize()).nOut(c.hiddenSize()).hasBias(false)
                        .activation(Activation.IDENTITY)
                        .weightInit(new WeightInitDistribution(new NormalDistribution(0, 0.02)))
                        .build(), "token");
        String prev = EMBED;
        for (int l = 0; l < c.numLayers(); l++) {
            g.addVertex(layer(l), new DecoderBlock.Builder().fromDecoderConfig(c)
                            .attentionImplementation(implementation).build(),
                    prev, ParamKeys.POSITION, ParamKeys.NODE, ParamKeys.SUBTREE_END);
            prev = layer(l);
        }
        return g.addLayer(OUTPUT, new DpoOutputLayer.Builder().fromDecoderConfig(c).loss(loss).build(), prev)
                .setOutputs(OUTPUT)
                .build();
    }

    /**
     * The graph's parameters (live views) by Hugging Face name: {@code <vertex>.<key>} for prefixshare vertices and
     * {@link RmsNorm} ({@code <layer>.weight}), {@code <layer>.weight} for an {@link EmbeddingSequenceLayer}'s
     * {@code W}, and {@link DpoOutputLayer}'s keys as they are.
     */
    public static Map<String, INDArray> hfParameters(ComputationGraph graph) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        Map<String, GraphVertex> vertices = graph.getConfiguration().getVertices();
        for (Map.Entry<String, INDArray> e : graph.paramTable().entrySet()) {
            String k = e.getKey();
            int us = k.indexOf('_');
            String vertex = k.substring(0, us);
            String key = k.substring(us + 1);
            GraphVertex gv = vertices.get(vertex);
            Object conf = gv instanceof LayerVertex lv ? lv.getLayerConf().getLayer() : gv;
            String hf;
            if (conf instanceof DpoOutputLayer) {
                hf = key;
            } else if (conf instanceof EmbeddingSequenceLayer && key.equals("W")) {
                hf = vertex + ".weight";
            } else if (conf instanceof AbstractAttentionVertex || conf instanceof RmsNorm) {
                hf = vertex + "." + key;
            } else {
                hf = k;
            }
            out.put(hf.replace('-', '_'), e.getValue());
        }
        return out;
    }

    /** Copies parameters by Hugging Face name into the graph (every graph parameter must be given, shapes equal). */
    public static void setHfParameters(ComputationGraph graph, Map<String, INDArray> values) {
        DataType dt = graph.params().dataType();
        for (Map.Entry<String, INDArray> e : hfParameters(graph).entrySet()) {
            INDArray v = values.get(e.getKey());
            if (v == null) {
                throw new IllegalArgumentException("missing parameter " + e.getKey());
            }
            if (!Arrays.equals(v.shape(), e.getValue().shape())) {
                throw new IllegalArgumentException(e.getKey() + " must have shape "
                        + Arrays.toString(e.getValue().shape()) + ", got " + Arrays.toString(v.shape()));
            }
            e.getValue().assign(v.castTo(dt));
        }
    }
}
