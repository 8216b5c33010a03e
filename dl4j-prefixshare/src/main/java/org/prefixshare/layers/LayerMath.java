package org.prefixshare.layers;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.prefixshare.model.DecoderMath;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.attention.DenseReferenceAttention;
import org.prefixshare.ops.attention.PrefixShareOps;

import java.util.Map;

/**
 * The decoder's building blocks as SameDiff expressions, shared by the layers of this package. The math (and the
 * order of its operations) mirrors {@link org.prefixshare.model.DecoderModel} exactly, so a graph of these layers
 * and the SameDiff decoder agree to rounding: HF {@code LlamaRMSNorm}, {@code x W^T} linears with HF's
 * {@code [out, in]} weights, rotate-half RoPE from per-token positions, HF {@code repeat_kv} GQA, SwiGLU.
 *
 * <p>Tokens are processed as a {@code [B*T, H]} matrix (every matmul rank 2: M2.1's rank3 x rank2
 * {@code tensormmul_bp} is broken); {@link #toRows} / {@link #fromRows} convert from / to DL4J's recurrent formats.
 */
final class LayerMath {

    private LayerMath() {
    }

    /** Activations [B,H,T] (NCW) or [B,T,H] (NWC) to rows [B*T,H]. */
    static SDVariable toRows(SameDiff sd, SDVariable x, RNNFormat format, int hidden) {
        SDVariable btH = format == RNNFormat.NCW ? sd.permute(x, 0, 2, 1) : x;       // [B,T,H]
        return sd.reshape(btH, -1, hidden);                                          // [BT,H]
    }

    /** Rows [B*T,H] back to the recurrent format, with B and T taken from {@code like} ([B,T] layout array). */
    static SDVariable fromRows(SameDiff sd, SDVariable rows, SDVariable like, RNNFormat format, int hidden) {
        SDVariable shape = sd.concat(0, sd.shape(like),
                sd.constant(Nd4j.createFromArray(new long[]{hidden})));               // [3]: B, T, H
        SDVariable btH = sd.reshape(rows, shape);                                    // [B,T,H]
        return format == RNNFormat.NCW ? sd.permute(btH, 0, 2, 1) : btH;
    }

    /**
     * Self-attention of rows x [BT,H] (already normed) with the parameters under {@code prefix}
     * ({@code q_proj.weight}, ...): q/k/v projections, RoPE, the prefix-shared op over node/subtreeEnd, o_proj.
     * Returns [BT,H].
     */
    static SDVariable attention(SameDiff sd, SDVariable x, Map<String, SDVariable> p, String prefix,
                                AttentionShape s, SDVariable[] ropeTables, SDVariable position, SDVariable node,
                                SDVariable subtreeEnd) {
        int hq = s.numHeads();
        int hkv = s.numKvHeads();
        int d = s.headDim();
        SDVariable q = DecoderMath.linear(sd, x, p.get(prefix + ParamKeys.Q_PROJ), p.get(prefix + ParamKeys.Q_BIAS));
        SDVariable k = DecoderMath.linear(sd, x, p.get(prefix + ParamKeys.K_PROJ), p.get(prefix + ParamKeys.K_BIAS));
        SDVariable v = DecoderMath.linear(sd, x, p.get(prefix + ParamKeys.V_PROJ), p.get(prefix + ParamKeys.V_BIAS));
        q = DecoderMath.rope(sd, q, ropeTables);                                    // [BT,Hq*D]
        k = DecoderMath.rope(sd, k, ropeTables);                                    // [BT,Hkv*D]
        SDVariable rowShape = sd.shape(position);                                    // [2]: B, T
        SDVariable qShape = sd.concat(0, rowShape, sd.constant(Nd4j.createFromArray(new long[]{hq, d})));
        SDVariable kvShape = sd.concat(0, rowShape, sd.constant(Nd4j.createFromArray(new long[]{hkv, d})));
        SDVariable q4 = sd.reshape(q, qShape);                                       // [B,T,Hq,D]
        SDVariable k4 = sd.reshape(k, kvShape);                                      // [B,T,Hkv,D]
        SDVariable v4 = sd.reshape(v, kvShape);                                      // [B,T,Hkv,D]
        double scale = 1.0 / Math.sqrt(d);
        PrefixShareOps.Implementation impl = s.resolvedImplementation();
        SDVariable[] r = impl == PrefixShareOps.Implementation.REFERENCE
                ? DenseReferenceAttention.build(sd, q4, k4, v4, node, subtreeEnd, scale, hq, hkv)
                : PrefixShareOps.attentionWithLse(sd, q4, k4, v4, node, subtreeEnd, scale, impl);
        // Inside a DL4J vertex no float output may dangle: M2.1 then takes it (here the log-sum-exp) as the loss and
        // never differentiates the vertex output. Consume it with an exact zero (tanh keeps an infinite lse finite).
        SDVariable zero = sd.sum(sd.math().tanh(r[1])).mul(0.0);
        if (impl == PrefixShareOps.Implementation.REFERENCE) {
            // the dense reference reads node/subtreeEnd through comparisons only: give the vertex inputs the float
            // gradient path DL4J needs (zero)
            zero = zero.add(sd.sum(node).add(sd.sum(subtreeEnd)).mul(0.0));
        }
        SDVariable att = r[0].add(zero);
        SDVariable a2 = sd.reshape(att, -1, (long) hq * d);                          // [BT,Hq*D]
        return DecoderMath.linear(sd, a2, p.get(prefix + ParamKeys.O_PROJ), null);
    }

    /** SwiGLU MLP on rows y [BT,H]: down_proj(silu(gate_proj(y)) * up_proj(y)). */
    static SDVariable swiglu(SameDiff sd, SDVariable y, Map<String, SDVariable> p, String prefix) {
        SDVariable gate = DecoderMath.linear(sd, y, p.get(prefix + ParamKeys.GATE_PROJ), null);
        SDVariable up = DecoderMath.linear(sd, y, p.get(prefix + ParamKeys.UP_PROJ), null);
        SDVariable act = DecoderMath.swiGlu(sd, gate, up);
        return DecoderMath.linear(sd, act, p.get(prefix + ParamKeys.DOWN_PROJ), null);
    }

    /** Seeded-by-DL4J initial values: normal(0, std) for matrices, 1 for norm weights, 0 for biases. */
    static void initialize(Map<String, INDArray> params, double std) {
        for (Map.Entry<String, INDArray> e : params.entrySet()) {
            String k = e.getKey();
            INDArray a = e.getValue();
            if (k.endsWith("norm.weight") || k.equals(ParamKeys.NORM_WEIGHT)) {
                a.assign(1.0);
            } else if (k.endsWith(".bias")) {
                a.assign(0.0);
            } else {
                a.assign(Nd4j.randn(a.dataType(), a.shape()).muli(std));
            }
        }
    }

    /** The head layout of an attention block. */
    record AttentionShape(int numHeads, int numKvHeads, int headDim, String implementation) {
        PrefixShareOps.Implementation resolvedImplementation() {
            PrefixShareOps.Implementation i = PrefixShareOps.Implementation.valueOf(
                    implementation == null ? "AUTO" : implementation.toUpperCase(java.util.Locale.ROOT));
            return i == PrefixShareOps.Implementation.AUTO ? PrefixShareOps.defaultImplementation() : i;
        }
    }
}
