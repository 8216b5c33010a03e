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
        requireExpressible(c);
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
        Map<String, INDArray> table = graph.paramTable();
        hfNames(graph).forEach((k, hf) -> out.put(hf, table.get(k)));
        return out;
    }

    /** DL4J parameter key ({@code <vertex>_<key>}, as in the param and gradient tables) to Hugging Face name. */
    public static Map<String, String> hfNames(ComputationGraph graph) {
        Map<String, String> out = new LinkedHashMap<>();
        Map<String, GraphVertex> vertices = graph.getConfiguration().getVertices();
        for (String k : graph.paramTable().keySet()) {
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
            out.put(k, hf.replace('-', '_'));
        }
        return out;
    }

    /** Refuses what the DL4J layers cannot express (tied embeddings, RoPE scaling), naming it. */
    static void requireExpressible(DecoderConfig c) {
        if (c.ropeScaling().type() != org.prefixshare.model.RopeScaling.Type.NONE) {
            throw new IllegalArgumentException("rope_scaling " + c.ropeScaling().type().hfName() + " is not supported "
                    + "by the DL4J layers (their RoPE has no scaling); use the SameDiff DecoderModel for this model");
        }
        if (c.tieWordEmbeddings()) {
            throw new IllegalArgumentException("tied embeddings (tie_word_embeddings) cannot be expressed in a DL4J "
                    + "network (a parameter belongs to one layer): use the untied config (DecoderConfig with "
                    + "tieWordEmbeddings false); setHfParameters copies model.embed_tokens.weight into lm_head.weight "
                    + "when the checkpoint has no lm_head.weight");
        }
    }

    /**
     * Copies parameters by Hugging Face name into the graph, cast to the graph's type: every graph parameter must be
     * given with its shape (a tied checkpoint's missing {@code lm_head.weight} is taken from
     * {@code model.embed_tokens.weight}), and a name the graph does not have is an error (nothing is dropped
     * silently). The inverse of {@link #hfParameters}; the names and shapes of {@link DecoderConfig#parameterShapes()}
     * and {@link org.prefixshare.model.DecoderModel#parameters()}.
     */
    public static void setHfParameters(ComputationGraph graph, Map<String, INDArray> values) {
        assign(hfParameters(graph), values, graph.params().dataType(), "DecoderGraph");
    }

    static void assign(Map<String, INDArray> targets, Map<String, INDArray> values, DataType dt, String who) {
        java.util.List<String> missing = new java.util.ArrayList<>();
        for (String k : targets.keySet()) {
            if (!values.containsKey(k) && !(k.equals(LM_HEAD) && values.containsKey(EMBED_HF))) {
                missing.add(k);
            }
        }
        java.util.List<String> unknown = new java.util.ArrayList<>();
        for (String k : values.keySet()) {
            if (!targets.containsKey(k)) {
                unknown.add(k);
            }
        }
        if (!missing.isEmpty() || !unknown.isEmpty()) {
            throw new IllegalArgumentException(who + ".setHfParameters: " + (missing.isEmpty() ? "" : "missing "
                    + missing + (unknown.isEmpty() ? "" : "; ")) + (unknown.isEmpty() ? "" : "not in this network "
                    + unknown + " (its decoder config differs?)"));
        }
        for (Map.Entry<String, INDArray> e : targets.entrySet()) {
            INDArray v = values.containsKey(e.getKey()) ? values.get(e.getKey()) : values.get(EMBED_HF);
            if (!Arrays.equals(v.shape(), e.getValue().shape())) {
                throw new IllegalArgumentException(who + ".setHfParameters: " + e.getKey() + " must have shape "
                        + Arrays.toString(e.getValue().shape()) + ", got " + Arrays.toString(v.shape()));
            }
            e.getValue().assign(v.castTo(dt));
        }
    }

    private static final String LM_HEAD = "lm_head.weight";
    private static final String EMBED_HF = "model.embed_tokens.weight";
}
