package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.array.SingleThreadArrayHolder;
import org.nd4j.autodiff.samediff.api.OutAndGrad;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.layout.LayoutBatch;
import org.prefixshare.model.lora.LoraAdapters;
import org.prefixshare.model.lora.LoraConfig;
import org.prefixshare.model.lora.LoraTarget;
import org.prefixshare.ops.attention.PrefixShareOps;
import org.prefixshare.ops.fused.DecoderLayerAdapters;
import org.prefixshare.ops.fused.DecoderLayerWeights;
import org.prefixshare.ops.fused.FusedOps;
import org.prefixshare.ops.fused.LayerProjection;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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

    /** Placeholder: token ids [R,T] (INT32). */
    public static final String TOKEN = "token";
    /** Placeholder: RoPE positions [R,T] (INT32). */
    public static final String POSITION = "position";
    /** Placeholder: pre-order node index [R,T] (INT32). */
    public static final String NODE = "node";
    /** Placeholder: subtree end [R,T] (INT32). */
    public static final String SUBTREE_END = "subtreeEnd";
    /** Placeholder: flat index {@code row * T + t} of every labelled position [N] (INT32). */
    public static final String LABEL_INDEX = "labelIndex";
    /** Placeholder: the label (next token) at each labelled position [N] (INT32). */
    public static final String LABEL_TOKEN = "labelToken";
    /** Placeholder: [S,N] 0/1 membership of label n in sequence s ({@link DecoderFeeds#sumType}). */
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

    /**
     * How the model is trained: full fine-tuning (every base parameter trainable, in the compute type), or a frozen
     * base (its matrices stored in {@code baseType}, e.g. bfloat16 at 2 bytes a parameter) with LoRA adapters (PEFT's,
     * on the projections of {@code lora}) or none (a reference: forward only); and whether decoder layers recompute
     * their activations in the backward.
     *
     * @param lora      the adapters, or null
     * @param adapters  where the adapters' values come from ({@link LoraAdapters#initial}, or a PEFT directory);
     *                  null without adapters
     * @param baseType  null: full fine-tuning; else the base is frozen and its matrices (embeddings, projections, LM
     *                  head) are stored in this type (the compute type, or BFLOAT16)
     * @param recompute activation recompute (gradient checkpointing) in the fused decoder layers
     */
    public record Options(LoraConfig lora, WeightSource adapters, DataType baseType, boolean recompute) {

        /** Full fine-tuning with saved activations. */
        public static final Options FULL = new Options(null, null, null, false);

        public Options {
            if ((lora == null) != (adapters == null)) {
                throw new IllegalArgumentException("LoRA needs its config and the source of its adapters, together");
            }
            if (lora != null && baseType == null) {
                throw new IllegalArgumentException("LoRA freezes the base: give its storage type");
            }
            if (baseType != null && !baseType.isFPType()) {
                throw new IllegalArgumentException("the base's storage type must be a float type, got " + baseType);
            }
        }

        /** LoRA with adapters from {@code adapters} on a frozen base stored in {@code baseType}. */
        public static Options lora(LoraConfig lora, WeightSource adapters, DataType baseType, boolean recompute) {
            return new Options(lora, adapters, baseType, recompute);
        }

        /** A frozen base without adapters, stored in {@code baseType}: a reference model (forward only). */
        public static Options frozen(DataType baseType) {
            return new Options(null, null, baseType, false);
        }

        /** Whether the base is frozen. */
        public boolean frozenBase() {
            return baseType != null;
        }

        /** These options with activation recompute on or off. */
        public Options withRecompute(boolean on) {
            return new Options(lora, adapters, baseType, on);
        }
    }

    /** Placeholder: the scalar INT64 seed of the adapters' dropout this step (negative: no dropout). */
    public static final String DROPOUT_SEED = "loraDropoutSeed";

    private final DecoderConfig config;
    private final PrefixShareOps.Implementation implementation;
    private final Options options;
    private final SameDiff sd;
    private final SDVariable logps;
    private final List<String> parameterNames;
    private final List<String> baseNames;
    private String lossName;
    private long dropoutSeed = -1;

    private DecoderModel(DecoderConfig config, WeightSource weights, PrefixShareOps.Implementation implementation,
                         Options options) {
        this.config = config;
        this.implementation = implementation == PrefixShareOps.Implementation.AUTO
                ? PrefixShareOps.defaultImplementation() : implementation;
        this.options = options;
        this.sd = SameDiff.create();
        // SameDiff's default array holders wrap every variable and constant in a DeviceLocalNDArray, which keeps a
        // copy of the array: measured, a 1.4 GB bfloat16 base took 2.8 GB. Plain holders keep our arrays (no copy);
        // a model is used by one thread at a time.
        sd.setArrayHolders(new SingleThreadArrayHolder(), new SingleThreadArrayHolder(), false);
        Map<String, long[]> shapes = config.parameterShapes();
        this.baseNames = List.copyOf(shapes.keySet());
        boolean frozen = options.frozenBase();
        boolean fused = FusedOps.decoderLayerEnabled(this.implementation);
        if (!fused && ((frozen && options.baseType() != config.dataType()) || options.recompute()
                || (options.lora() != null && options.lora().dropout() > 0))) {
            throw new IllegalArgumentException("a " + options.baseType() + " frozen base, activation recompute and "
                    + "LoRA dropout need the fused native decoder layer (native library loaded, -Dprefixshare.fused "
                    + "not false)");
        }
        Map<String, SDVariable> p = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            DataType type = frozen && isMatrix(e.getKey()) ? options.baseType() : config.dataType();
            INDArray value = load(weights, e.getKey(), e.getValue(), type);
            // a frozen base is constant: SameDiff keeps it out of its gradients entirely
            p.put(e.getKey(), frozen ? sd.constant(e.getKey(), value) : sd.var(e.getKey(), value));
        }
        List<String> trainable = new ArrayList<>(frozen ? List.of() : baseNames);
        if (options.lora() != null) {
            for (Map.Entry<String, long[]> e : LoraAdapters.shapes(config, options.lora()).entrySet()) {
                p.put(e.getKey(), sd.var(e.getKey(), load(options.adapters(), e.getKey(), e.getValue(),
                        config.dataType())));
                trainable.add(e.getKey());
            }
        }
        this.parameterNames = List.copyOf(trainable);
        this.logps = buildGraph(p);
        ArrayCache.bound(sd);
    }

    private static INDArray load(WeightSource source, String name, long[] shape, DataType type) {
        INDArray value = source.load(name, shape, type);
        if (!java.util.Arrays.equals(value.shape(), shape) || value.dataType() != type) {
            throw new IllegalArgumentException(name + ": the weight source gave " + value.dataType() + " "
                    + java.util.Arrays.toString(value.shape()) + ", the model needs " + type + " "
                    + java.util.Arrays.toString(shape));
        }
        return value;
    }

    /** Whether a parameter is one of the large matrices a frozen base may store narrower (not a norm or a bias). */
    private static boolean isMatrix(String name) {
        return name.endsWith("proj.weight") || name.equals(EMBED) || name.equals(LM_HEAD);
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
        return create(config, WeightSource.random(seed, initStd), implementation);
    }

    /**
     * A model whose parameters come from {@code weights} (a checkpoint, or {@link WeightSource#random}), with the
     * given attention implementation. Parameters are created one at a time, off-heap.
     */
    public static DecoderModel create(DecoderConfig config, WeightSource weights,
                                      PrefixShareOps.Implementation implementation) {
        return create(config, weights, implementation, Options.FULL);
    }

    /** A model whose parameters come from {@code weights}, trained as {@code options} say (LoRA, recompute). */
    public static DecoderModel create(DecoderConfig config, WeightSource weights,
                                      PrefixShareOps.Implementation implementation, Options options) {
        GatherRows.register();
        return new DecoderModel(config, weights, implementation, options);
    }

    /**
     * The reference of a LoRA model: the same base with the adapters disabled (TRL's reference for a PEFT model
     * without {@code ref_model}), sharing this model's base arrays (no second copy of the weights). Forward only.
     */
    public DecoderModel adaptersDisabled() {
        if (options.lora() == null) {
            throw new IllegalStateException("the model has no adapters to disable");
        }
        Map<String, INDArray> base = baseParameters();
        return create(config, (name, shape, type) -> base.get(name), implementation,
                Options.frozen(options.baseType()));
    }

    /** Hugging Face layer prefix {@code model.layers.<l>.}. */
    static String layerPrefix(int l) {
        return "model.layers." + l + ".";
    }

    // ------------------------------------------------------------------------------------------------ graph

    private SDVariable buildGraph(Map<String, SDVariable> p) {
        DecoderConfig c = config;
        DataType dt = c.dataType();
        int hq = c.numHeads();
        int hkv = c.numKvHeads();
        int d = c.headDim();

        // ids, positions and layout are integers whatever the model type (a 16-bit float is exact only to 256/2048)
        SDVariable token = sd.placeHolder(TOKEN, DecoderFeeds.INDEX_TYPE, -1, -1);
        SDVariable position = sd.placeHolder(POSITION, DecoderFeeds.INDEX_TYPE, -1, -1);
        SDVariable node = sd.placeHolder(NODE, DecoderFeeds.INDEX_TYPE, -1, -1);
        SDVariable subtreeEnd = sd.placeHolder(SUBTREE_END, DecoderFeeds.INDEX_TYPE, -1, -1);
        SDVariable labelIndex = sd.placeHolder(LABEL_INDEX, DecoderFeeds.INDEX_TYPE, -1);
        SDVariable labelToken = sd.placeHolder(LABEL_TOKEN, DecoderFeeds.INDEX_TYPE, -1);
        DataType sumType = DecoderFeeds.sumType(dt);
        SDVariable seqMatrix = sd.placeHolder(SEQ_MATRIX, sumType, -1, -1);

        SDVariable rowShape = sd.shape(token);                                          // [2]: R, T
        SDVariable qShape = sd.concat(0, rowShape, sd.constant(Nd4j.createFromArray(new long[]{hq, d})));
        SDVariable kvShape = sd.concat(0, rowShape, sd.constant(Nd4j.createFromArray(new long[]{hkv, d})));

        SDVariable embed = p.get(EMBED);
        SDVariable h = gatherRows(embed, sd.reshape(token, -1));                      // [RT,H]
        if (h.dataType() != dt) {
            h = h.castTo(dt);                                                         // a narrower frozen table
        }
        LoraConfig lora = options.lora();
        SDVariable seed = lora != null && lora.dropout() > 0 ? sd.placeHolder(DROPOUT_SEED, DataType.INT64) : null;

        double eps = c.rmsNormEps();
        SDVariable[] rope = DecoderMath.ropeTables(sd, position, d, c.ropeTheta(), c.ropeScaling(), dt); // [RT,D]

        double scale = 1.0 / Math.sqrt(d);
        PrefixShareOps.Implementation impl = implementation;
        boolean fusedLayers = FusedOps.decoderLayerEnabled(impl);
        // a model with nothing to train (a reference, or a model being scored) runs forward only: its layers save
        // nothing for a backward (a 7B-class layer's saved activations are ~170 KB a token)
        boolean saveNothing = options.recompute() || (options.frozenBase() && options.lora() == null);
        for (int l = 0; l < c.numLayers(); l++) {
            DecoderLayerWeights w = layerWeights(p, layerPrefix(l));
            DecoderLayerAdapters adapters = lora == null ? null : layerAdapters(p, lora, l, seed);
            if (fusedLayers) {
                h = FusedOps.decoderLayer(sd, h, w, adapters, rope[0], rope[1], node, subtreeEnd, eps, scale,
                        saveNothing, l);
                continue;
            }
            SDVariable x = DecoderMath.rmsNorm(sd, h, w.inputNorm(), eps);
            SDVariable q = adapted(x, DecoderMath.linear(sd, x, w.qProj(), w.qBias()), adapters, LayerProjection.Q);
            SDVariable k = adapted(x, DecoderMath.linear(sd, x, w.kProj(), w.kBias()), adapters, LayerProjection.K);
            SDVariable v = adapted(x, DecoderMath.linear(sd, x, w.vProj(), w.vBias()), adapters, LayerProjection.V);
            q = DecoderMath.rope(sd, q, rope);                                        // [RT,Hq*D]
            k = DecoderMath.rope(sd, k, rope);                                        // [RT,Hkv*D]
            SDVariable q4 = sd.reshape(q, qShape);                                    // [R,T,Hq,D]
            SDVariable k4 = sd.reshape(k, kvShape);                                   // [R,T,Hkv,D]
            SDVariable v4 = sd.reshape(v, kvShape);                                   // [R,T,Hkv,D]
            // graph variables have no static shape in M2.1, so the head counts are passed along
            SDVariable att = PrefixShareOps.attentionWithLse(sd, q4, k4, v4, node, subtreeEnd, scale, hq, hkv,
                    impl)[0];
            SDVariable a2 = sd.reshape(att, -1, (long) hq * d);                       // [RT,Hq*D]
            h = h.add(adapted(a2, DecoderMath.linear(sd, a2, w.oProj(), null), adapters, LayerProjection.O));
            SDVariable y = DecoderMath.rmsNorm(sd, h, w.postAttentionNorm(), eps);
            SDVariable gate = adapted(y, DecoderMath.linear(sd, y, w.gateProj(), null), adapters,
                    LayerProjection.GATE);                                            // [RT,I]
            SDVariable up = adapted(y, DecoderMath.linear(sd, y, w.upProj(), null), adapters,
                    LayerProjection.UP);                                              // [RT,I]
            SDVariable act = DecoderMath.swiGlu(sd, gate, up);                        // silu(gate) * up
            h = h.add(adapted(act, DecoderMath.linear(sd, act, w.downProj(), null), adapters,
                    LayerProjection.DOWN));
        }
        h = DecoderMath.rmsNorm(sd, h, p.get(FINAL_NORM), eps);

        // scoring: only the N labelled positions reach the LM head
        SDVariable hl = gatherRows(h, labelIndex);                                     // [N,H]
        SDVariable head = c.tieWordEmbeddings() ? embed : p.get(LM_HEAD);
        // the LM head and the log-softmax at the labels in one op, never materialising the [N,V] logits
        SDVariable tokenLogps = DecoderMath.lmHeadLabelLogProbs(sd, hl, head, labelToken, c.vocabSize())
                .rename(TOKEN_LOGPS);                                                  // [N]
        // the per-sequence sums accumulate in float32 at least, whatever the model type
        SDVariable lp = dt == sumType ? tokenLogps : tokenLogps.castTo(sumType);
        SDVariable perSeq = sd.mmul(seqMatrix, sd.reshape(lp, -1, 1));                // [S,1]
        return sd.reshape(LOGPS, perSeq, -1);                                          // [S]
    }

    /**
     * {@code y + scale (x A^T) B^T} when projection {@code p} has an adapter (the op-per-step formulation of what the
     * fused layer does; no dropout), else y.
     */
    private SDVariable adapted(SDVariable x, SDVariable y, DecoderLayerAdapters adapters, LayerProjection p) {
        if (adapters == null || adapters.a()[p.ordinal()] == null) {
            return y;
        }
        SDVariable u = DecoderMath.linear(sd, x, adapters.a()[p.ordinal()], null);      // [M,r]
        return y.add(DecoderMath.linear(sd, u, adapters.b()[p.ordinal()], null).mul(adapters.scale()));
    }

    /** Layer l's adapters (A and B of each targeted projection). */
    private static DecoderLayerAdapters layerAdapters(Map<String, SDVariable> p, LoraConfig lora, int l,
                                                      SDVariable seed) {
        SDVariable[] a = new SDVariable[LayerProjection.values().length];
        SDVariable[] b = new SDVariable[a.length];
        for (LoraTarget t : lora.orderedTargets()) {
            a[t.projection().ordinal()] = p.get(LoraAdapters.aName(t, l));
            b[t.projection().ordinal()] = p.get(LoraAdapters.bName(t, l));
        }
        return new DecoderLayerAdapters(lora.scale(), lora.dropout(), a, b, seed);
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

    /**
     * Names of the trainable parameters, in definition order: every base parameter (HF names) in full fine-tuning,
     * the adapters (PEFT names) with LoRA.
     */
    public List<String> parameterNames() {
        return parameterNames;
    }

    /** Number of parameters of the base model. */
    public long parameterCount() {
        return config.parameterCount();
    }

    /** Number of trainable parameters (all of them, or the adapters'). */
    public long trainableParameterCount() {
        long n = 0;
        for (INDArray a : parameters().values()) {
            n += a.length();
        }
        return n;
    }

    /** How the model is trained. */
    public Options options() {
        return options;
    }

    /** The live trainable parameter arrays by name (not copies). */
    public Map<String, INDArray> parameters() {
        Map<String, INDArray> m = new LinkedHashMap<>();
        for (String n : parameterNames) {
            m.put(n, sd.getVariable(n).getArr());
        }
        return m;
    }

    /** The live base parameter arrays by HF name (not copies; frozen ones may be stored narrower). */
    public Map<String, INDArray> baseParameters() {
        Map<String, INDArray> m = new LinkedHashMap<>();
        for (String n : baseNames) {
            m.put(n, sd.getVariable(n).getArr());
        }
        return m;
    }

    /**
     * Copies the given arrays into the trainable parameters by name (e.g. from a checkpoint or another model). Every
     * trainable parameter must be present with its exact shape; values are cast to the model's type. Extra keys (such
     * as {@code rotary_emb.inv_freq}, or {@code lm_head.weight} of a tied model) are ignored.
     */
    public void setParameters(Map<String, INDArray> values) {
        for (String n : parameterNames) {
            INDArray v = values.get(n);
            INDArray target = sd.getVariable(n).getArr();
            if (v == null) {
                throw new IllegalArgumentException("missing parameter " + n);
            }
            if (!java.util.Arrays.equals(v.shape(), target.shape())) {
                throw new IllegalArgumentException(n + " must have shape " + java.util.Arrays.toString(target.shape())
                        + ", got " + java.util.Arrays.toString(v.shape()));
            }
            target.assign(v.castTo(config.dataType()));
        }
    }

    /**
     * The seed of the adapters' dropout for the next passes (a training step sets its own; negative: no dropout, as
     * in evaluation). Only models with LoRA dropout read it.
     */
    public void setDropoutSeed(long seed) {
        this.dropoutSeed = seed;
    }

    /** The placeholder arrays of a batch (see {@link DecoderFeeds}). */
    public Map<String, INDArray> feeds(LayoutBatch batch) {
        Map<String, INDArray> f = DecoderFeeds.of(batch, config).asMap();
        if (sd.hasVariable(DROPOUT_SEED)) {
            f.put(DROPOUT_SEED, Nd4j.scalar(DataType.INT64, dropoutSeed));
        }
        return f;
    }

    /** Per-sequence log-probs [S] of a batch, in the order of its sequence table. */
    public INDArray logps(LayoutBatch batch) {
        return output(batch, LOGPS);
    }

    /** Per-label log-probs [N], in row-major order of the labelled positions. */
    public INDArray tokenLogps(LayoutBatch batch) {
        return output(batch, TOKEN_LOGPS);
    }

    /** One variable's value for a batch; the execution's other arrays go back to the array cache. */
    private INDArray output(LayoutBatch batch, String name) {
        long mark = ArrayCache.mark();
        INDArray out = sd.output(feeds(batch), name).get(name);
        ArrayCache.reclaim(mark, out);
        return out;
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
        // gradients run in a graph of their own, with its own array cache: create it now to bound that cache too
        sd.createGradFunction();
        ArrayCache.bound(sd.getFunction("grad"));
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
        long mark = ArrayCache.mark();
        OutAndGrad og = sd.calculateGradientsAndOutputs(f, List.of(lossName, LOGPS), parameterNames);
        Map<String, INDArray> outs = og.getOutputs();
        Map<String, INDArray> grads = new LinkedHashMap<>();
        for (String n : parameterNames) {
            INDArray g = og.getGradients().get(n);
            grads.put(n, g == null ? Nd4j.zeros(config.dataType(), sd.getVariable(n).getArr().shape()) : g);
        }
        double loss = outs.get(lossName).getDouble(0);
        List<INDArray> handedOut = new ArrayList<>(grads.values());
        handedOut.add(outs.get(LOGPS));
        ArrayCache.reclaim(mark, handedOut);
        return new LossAndGradients(loss, outs.get(LOGPS), grads);
    }

    /** Gradients of the attached loss with respect to the named variables. */
    public Map<String, INDArray> gradients(LayoutBatch batch, Map<String, INDArray> extraFeeds,
                                           Collection<String> wrt) {
        Map<String, INDArray> f = new LinkedHashMap<>(feeds(batch));
        f.putAll(extraFeeds);
        long mark = ArrayCache.mark();
        Map<String, INDArray> grads = sd.calculateGradients(f, wrt);
        ArrayCache.reclaim(mark, grads.values());
        return grads;
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
