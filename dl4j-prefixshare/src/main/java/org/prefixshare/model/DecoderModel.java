package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.fused.DecoderLayerWeights;
import org.prefixshare.ops.fused.FusedOps;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A Llama / Mistral / Qwen2 decoder as one SameDiff graph that scores sequences laid out in the row layout
 * (docs/design.md, "The row layout"): the same graph serves the prefix-shared packed format and the paired format,
 * because both are {@link LayoutBatch}es and attention follows the ancestor rule of {@code node}/{@code subtreeEnd}.
 *
 * <p>Graph, per token of the {@code [R,T]} rows (flattened to R*T): embedding gather, then per layer
 * {@code h += o_proj(attn(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))} with {@code n = input_layernorm(h)} and
 * {@code h += down_proj(silu(gate_proj(n')) * up_proj(n'))} with {@code n' = post_attention_layernorm(h)}; the final
 * {@code model.norm}; then only at the N labelled positions ({@link #LABEL_INDEX}): LM head, the label's log-prob
 * under the log-softmax ({@link #TOKEN_LOGPS} [N]), and a segment sum by the {@code [S,N]} 0/1
 * matrix {@link #SEQ_MATRIX} into per-sequence log-probs {@link #LOGPS} [S].
 *
 * <p>Parameters carry Hugging Face's names and layouts (Linear weights {@code [out, in]}, applied as
 * {@code x W^T}), so a checkpoint's tensors load by name ({@link #setParameters}). RoPE is HF Llama's rotate-half
 * form computed from the per-token positions; query head h reads kv head {@code h / (numHeads / numKvHeads)}
 * (HF's {@code repeat_kv}). M2.1 workarounds: log-softmax is our op or written out (ND4J's backward is broken), every
 * matmul is rank 2 (rank3 x rank2 {@code tensormmul_bp} is broken), and row gathers use {@link GatherRows} (the
 * stock gather's backward is a while-loop per index and two of them in one graph clash; {@link GatherRowsBp} says why
 * its backward is not ND4J's segment sum).
 */
public final class DecoderModel {

    /** Placeholder: token ids [R,T] (float type of the model; ids are exact below 2^24 in float32). */
    public static final String TOKEN = "token";
    /** Placeholder: RoPE positions [R,T]. */
    public static final String POSITION = "position";
    /** Placeholder: pre-order node index [R,T]. */
    public static final String NODE = "node";
    /** Placeholder: subtree end [R,T]. */
    public static final String SUBTREE_END = "subtreeEnd";
    /** Placeholder: flat index {@code row * T + t} of every labelled position [N] (float type, integer values). */
    public static final String LABEL_INDEX = "labelIndex";
    /** Placeholder: the label (next token) at each labelled position [N] (float type, integer values). */
    public static final String LABEL_TOKEN = "labelToken";
    /** Placeholder: [S,N] 0/1 membership of label n in sequence s (model type). */
    public static final String SEQ_MATRIX = "seqMatrix";
    /** Output: per-label log-prob [N]. */
    public static final String TOKEN_LOGPS = "tokenLogps";
    /** Output: per-sequence log-prob [S], in the order of the batch's sequence table. */
    public static final String LOGPS = "logps";

    /** model.embed_tokens.weight [V,H]. */
    public static final String EMBED = "model.embed_tokens.weight";
    /** model.norm.weight [H]. */
    public static final String FINAL_NORM = "model.norm.weight";
    /** lm_head.weight [V,H] (absent when tied). */
    public static final String LM_HEAD = "lm_head.weight";

    /** Standard deviation of the initial weights (HF initializer_range). */
    public static final double INIT_STD = 0.02;

    /** Builds a scalar loss from the per-sequence log-probs; may add placeholders of its own to {@code sd}. */
    @FunctionalInterface
    public interface LossFunction {
        SDVariable build(SameDiff sd, SDVariable logps);
    }

    /** A loss value with the gradient of every parameter (by HF name). */
    public record LossAndGradients(double loss, INDArray logps, Map<String, INDArray> gradients) {
    }

    private final DecoderConfig config;
    private final PrefixShareOps.Implementation implementation;
    private final SameDiff sd;
    private final SDVariable logps;
    private final List<String> parameterNames;
    private String lossName;

    private DecoderModel(DecoderConfig config, long seed, PrefixShareOps.Implementation implementation,
                         double initStd) {
        this.config = config;
        this.implementation = implementation == PrefixShareOps.Implementation.AUTO
                ? PrefixShareOps.defaultImplementation() : implementation;
        this.sd = SameDiff.create();
        Map<String, long[]> shapes = config.parameterShapes();
        this.parameterNames = List.copyOf(shapes.keySet());
        Map<String, SDVariable> p = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            p.put(e.getKey(), sd.var(e.getKey(),
                    initialValue(e.getKey(), e.getValue(), seed, initStd, config.dataType())));
        }
        this.logps = buildGraph(p);
    }

    /** A model with seeded initial weights (normal, std 0.02; norms 1; biases 0) and the default attention. */
    public static DecoderModel create(DecoderConfig config, long seed) {
        return create(config, seed, PrefixShareOps.Implementation.AUTO);
    }

    /**
     * A model with seeded initial weights and the given attention implementation (AUTO: native kernels when
     * loaded, else the dense reference; honours {@code -Dprefixshare.attention}).
     */
    public static DecoderModel create(DecoderConfig config, long seed, PrefixShareOps.Implementation implementation) {
        return create(config, seed, implementation, INIT_STD);
    }

    /**
     * As {@link #create(DecoderConfig, long, PrefixShareOps.Implementation)} with another standard deviation of the
     * weights (checks use ~0.1 so that attention is far from uniform and layout mistakes show).
     */
    public static DecoderModel create(DecoderConfig config, long seed, PrefixShareOps.Implementation implementation,
                                      double initStd) {
        if (!(initStd >= 0) || Double.isInfinite(initStd)) {
            throw new IllegalArgumentException("initStd must be finite and >= 0, got " + initStd);
        }
        GatherRows.register();
        return new DecoderModel(config, seed, implementation, initStd);
    }

    /** Hugging Face layer prefix {@code model.layers.<l>.}. */
    static String layerPrefix(int l) {
        return "model.layers." + l + ".";
    }

    // ------------------------------------------------------------------------------------------------ init

    private static INDArray initialValue(String name, long[] shape, long seed, double std, DataType dt) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (name.endsWith("norm.weight")) {
            return Nd4j.ones(dt, shape);
        }
        if (name.endsWith(".bias")) {
            return Nd4j.zeros(dt, shape);
        }
        // one independent stream per parameter: values do not depend on the order or number of other parameters
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ name.hashCode());
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(name + " has " + n + " elements, too many for one Java array");
        }
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = std * rnd.nextGaussian();
        }
        return Nd4j.createFromArray(v).castTo(dt).reshape('c', shape);
    }

    // ------------------------------------------------------------------------------------------------ graph

    private SDVariable buildGraph(Map<String, SDVariable> p) {
        DecoderConfig c = config;
        DataType dt = c.dataType();
        int hq = c.numHeads();
        int hkv = c.numKvHeads();
        int d = c.headDim();

        SDVariable token = sd.placeHolder(TOKEN, dt, -1, -1);
        SDVariable position = sd.placeHolder(POSITION, dt, -1, -1);
        SDVariable node = sd.placeHolder(NODE, dt, -1, -1);
        SDVariable subtreeEnd = sd.placeHolder(SUBTREE_END, dt, -1, -1);
        SDVariable labelIndex = sd.placeHolder(LABEL_INDEX, dt, -1);
        SDVariable labelToken = sd.placeHolder(LABEL_TOKEN, dt, -1);
        SDVariable seqMatrix = sd.placeHolder(SEQ_MATRIX, dt, -1, -1);

        SDVariable rowShape = sd.shape(token);                                          // [2]: R, T
        SDVariable qShape = sd.concat(0, rowShape, sd.constant(Nd4j.createFromArray(new long[]{hq, d})));
        SDVariable kvShape = sd.concat(0, rowShape, sd.constant(Nd4j.createFromArray(new long[]{hkv, d})));

        SDVariable embed = p.get(EMBED);
        SDVariable h = gatherRows(embed, sd.reshape(token, -1));                      // [RT,H]

        double eps = c.rmsNormEps();
        SDVariable[] rope = DecoderMath.ropeTables(sd, position, d, c.ropeTheta(), dt); // cos, sin [RT,D]

        double scale = 1.0 / Math.sqrt(d);
        PrefixShareOps.Implementation impl = implementation;
        boolean fusedLayers = FusedOps.decoderLayerEnabled(impl);
        for (int l = 0; l < c.numLayers(); l++) {
            DecoderLayerWeights w = layerWeights(p, layerPrefix(l));
            if (fusedLayers) {
                h = FusedOps.decoderLayer(sd, h, w, rope[0], rope[1], node, subtreeEnd, eps, scale);
                continue;
            }
            SDVariable x = DecoderMath.rmsNorm(sd, h, w.inputNorm(), eps);
            SDVariable q = DecoderMath.linear(sd, x, w.qProj(), w.qBias());
            SDVariable k = DecoderMath.linear(sd, x, w.kProj(), w.kBias());
            SDVariable v = DecoderMath.linear(sd, x, w.vProj(), w.vBias());
            q = DecoderMath.rope(sd, q, rope);                                        // [RT,Hq*D]
            k = DecoderMath.rope(sd, k, rope);                                        // [RT,Hkv*D]
            SDVariable q4 = sd.reshape(q, qShape);                                    // [R,T,Hq,D]
            SDVariable k4 = sd.reshape(k, kvShape);                                   // [R,T,Hkv,D]
            SDVariable v4 = sd.reshape(v, kvShape);                                   // [R,T,Hkv,D]
            // graph variables have no static shape in M2.1, so the head counts are passed along
            SDVariable att = PrefixShareOps.attentionWithLse(sd, q4, k4, v4, node, subtreeEnd, scale, hq, hkv,
                    impl)[0];
            SDVariable a2 = sd.reshape(att, -1, (long) hq * d);                       // [RT,Hq*D]
            h = h.add(DecoderMath.linear(sd, a2, w.oProj(), null));
            SDVariable y = DecoderMath.rmsNorm(sd, h, w.postAttentionNorm(), eps);
            SDVariable gate = DecoderMath.linear(sd, y, w.gateProj(), null);          // [RT,I]
            SDVariable up = DecoderMath.linear(sd, y, w.upProj(), null);              // [RT,I]
            SDVariable act = DecoderMath.swiGlu(sd, gate, up);                        // silu(gate) * up
            h = h.add(DecoderMath.linear(sd, act, w.downProj(), null));
        }
        h = DecoderMath.rmsNorm(sd, h, p.get(FINAL_NORM), eps);

        // scoring: only the N labelled positions reach the LM head
        SDVariable hl = gatherRows(h, labelIndex);                                     // [N,H]
        SDVariable head = c.tieWordEmbeddings() ? embed : p.get(LM_HEAD);
        SDVariable logits = DecoderMath.linear(sd, hl, head, null);                    // [N,V]
        SDVariable tokenLogps = DecoderMath.labelLogProbs(sd, logits, labelToken, c.vocabSize())
                .rename(TOKEN_LOGPS);                                                  // [N]
        SDVariable perSeq = sd.mmul(seqMatrix, sd.reshape(tokenLogps, -1, 1));        // [S,1]
        return sd.reshape(LOGPS, perSeq, -1);                                          // [S]
    }

    /** Layer {@code pre}'s parameters (biases null when the config has none). */
    private static DecoderLayerWeights layerWeights(Map<String, SDVariable> p, String pre) {
        return new DecoderLayerWeights(p.get(pre + "input_layernorm.weight"), p.get(pre + "self_attn.q_proj.weight"),
                p.get(pre + "self_attn.k_proj.weight"), p.get(pre + "self_attn.v_proj.weight"),
                p.get(pre + "self_attn.o_proj.weight"), p.get(pre + "post_attention_layernorm.weight"),
                p.get(pre + "mlp.gate_proj.weight"), p.get(pre + "mlp.up_proj.weight"),
                p.get(pre + "mlp.down_proj.weight"), p.get(pre + "self_attn.q_proj.bias"),
                p.get(pre + "self_attn.k_proj.bias"), p.get(pre + "self_attn.v_proj.bias"));
    }

    /** rows of table [M,H] at the float-typed indices [N]: [N,H] (see {@link GatherRows} for why not sd.gather). */
    private SDVariable gatherRows(SDVariable table, SDVariable index) {
        return new GatherRows(sd, table, index).outputVariable();
    }

    // ------------------------------------------------------------------------------------------------ use

    /** The config. */
    public DecoderConfig config() {
        return config;
    }

    /** The attention implementation this graph was built with (AUTO resolved at build time). */
    public PrefixShareOps.Implementation implementation() {
        return implementation;
    }

    /** The graph (for attaching losses, listeners, training configs). */
    public SameDiff sameDiff() {
        return sd;
    }

    /** The per-sequence log-probs [S]. */
    public SDVariable logpsVariable() {
        return logps;
    }

    /** Parameter names (HF), in definition order. */
    public List<String> parameterNames() {
        return parameterNames;
    }

    /** Number of parameters. */
    public long parameterCount() {
        return config.parameterCount();
    }

    /** The live parameter arrays by HF name (not copies). */
    public Map<String, INDArray> parameters() {
        Map<String, INDArray> m = new LinkedHashMap<>();
        for (String n : parameterNames) {
            m.put(n, sd.getVariable(n).getArr());
        }
        return m;
    }

    /**
     * Copies the given arrays into the parameters by HF name (e.g. from a checkpoint or another model). Every
     * parameter must be present with its exact shape; values are cast to the model's type. Extra keys (such as
     * {@code rotary_emb.inv_freq}, or {@code lm_head.weight} of a tied model) are ignored.
     */
    public void setParameters(Map<String, INDArray> values) {
        Map<String, long[]> shapes = config.parameterShapes();
        for (String n : parameterNames) {
            INDArray v = values.get(n);
            if (v == null) {
                throw new IllegalArgumentException("missing parameter " + n);
            }
            if (!java.util.Arrays.equals(v.shape(), shapes.get(n))) {
                throw new IllegalArgumentException(n + " must have shape " + java.util.Arrays.toString(shapes.get(n))
                        + ", got " + java.util.Arrays.toString(v.shape()));
            }
            sd.getVariable(n).getArr().assign(v.castTo(config.dataType()));
        }
    }

    /** The placeholder arrays of a batch (see {@link DecoderFeeds}). */
    public Map<String, INDArray> feeds(LayoutBatch batch) {
        return DecoderFeeds.of(batch, config).asMap();
    }

    /** Per-sequence log-probs [S] of a batch, in the order of its sequence table. */
    public INDArray logps(LayoutBatch batch) {
        return sd.output(feeds(batch), LOGPS).get(LOGPS);
    }

    /** Per-label log-probs [N], in row-major order of the labelled positions. */
    public INDArray tokenLogps(LayoutBatch batch) {
        return sd.output(feeds(batch), TOKEN_LOGPS).get(TOKEN_LOGPS);
    }

    /**
     * Attaches a scalar loss built on {@link #logpsVariable()} and makes it the graph's loss (replacing an earlier
     * one). Returns the loss variable.
     */
    public SDVariable setLoss(LossFunction loss) {
        SDVariable l = loss.build(sd, logps);
        if (l == null) {
            throw new IllegalArgumentException("the loss function returned null");
        }
        sd.setLossVariables(l.name());
        lossName = l.name();
        return l;
    }

    /** The loss variable's name, or null before {@link #setLoss}. */
    public String lossName() {
        return lossName;
    }

    /**
     * Loss value, log-probs and every parameter's gradient for a batch, in one forward + backward pass.
     *
     * @param batch      the batch
     * @param extraFeeds values of the placeholders the loss function added (may be empty)
     */
    public LossAndGradients lossAndGradients(LayoutBatch batch, Map<String, INDArray> extraFeeds) {
        if (lossName == null) {
            throw new IllegalStateException("attach a loss with setLoss(...) before asking for gradients");
        }
        Map<String, INDArray> f = new LinkedHashMap<>(feeds(batch));
        f.putAll(extraFeeds);
        OutAndGrad og = sd.calculateGradientsAndOutputs(f, List.of(lossName, LOGPS), parameterNames);
        Map<String, INDArray> outs = og.getOutputs();
        Map<String, INDArray> grads = new LinkedHashMap<>();
        for (String n : parameterNames) {
            INDArray g = og.getGradients().get(n);
            grads.put(n, g == null ? Nd4j.zeros(config.dataType(), config.parameterShapes().get(n)) : g);
        }
        return new LossAndGradients(outs.get(lossName).getDouble(0), outs.get(LOGPS), grads);
    }

    /** Gradients of the attached loss with respect to the named variables. */
    public Map<String, INDArray> gradients(LayoutBatch batch, Map<String, INDArray> extraFeeds,
                                           Collection<String> wrt) {
        Map<String, INDArray> f = new LinkedHashMap<>(feeds(batch));
        f.putAll(extraFeeds);
        return sd.calculateGradients(f, wrt);
    }

    /** Gradients of the attached loss with respect to every parameter. */
    public Map<String, INDArray> gradients(LayoutBatch batch) {
        return gradients(batch, Collections.emptyMap(), new ArrayList<>(parameterNames));
    }

    @Override
    public String toString() {
        return "DecoderModel{" + config + ", parameters=" + parameterCount() + ", attention=" + implementation + "}";
    }
}
