package org.prefixshare.ops.fused;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.ops.backend.NativeCpuAttention;

import java.util.Arrays;
import java.util.List;

import static org.prefixshare.ops.fused.LayerWorkspace.Block.ATTENTION;
import static org.prefixshare.ops.fused.LayerWorkspace.Block.GATE;
import static org.prefixshare.ops.fused.LayerWorkspace.Block.KEYS;
import static org.prefixshare.ops.fused.LayerWorkspace.Block.LSE;
import static org.prefixshare.ops.fused.LayerWorkspace.Block.QUERIES;
import static org.prefixshare.ops.fused.LayerWorkspace.Block.RESIDUAL;
import static org.prefixshare.ops.fused.LayerWorkspace.Block.UP;
import static org.prefixshare.ops.fused.LayerWorkspace.Block.VALUES;

/**
 * One decoder layer forward and backward as a sequence of the native kernels ({@link FusedKernels}: RMSNorm, linear,
 * RoPE, SwiGLU; {@link NativeCpuAttention}), in the order and with the arithmetic of the op-per-step graph, so the
 * fused layer computes what the decomposed layer computes while SameDiff schedules one op instead of dozens.
 */
final class DecoderLayerKernels {

    private static final String OP = FusedDecoderLayer.OP_NAME;

    private DecoderLayerKernels() {
    }

    /**
     * The forward op's inputs by role: h {@code [M,H]}, the weights of {@link DecoderLayerWeights} (biases null when
     * absent), the RoPE tables cos and sin {@code [M,D]}, and the layout node and subtreeEnd {@code [R,T]}.
     */
    record Inputs(INDArray h, INDArray inputNorm, INDArray wq, INDArray wk, INDArray wv, INDArray wo,
                  INDArray postNorm, INDArray wg, INDArray wu, INDArray wd, INDArray bq, INDArray bk, INDArray bv,
                  INDArray cos, INDArray sin, INDArray node, INDArray subtreeEnd) {

        /** Number of trailing inputs that carry no gradient (cos, sin, node, subtreeEnd). */
        static final int LAYOUT_INPUTS = 4;

        static Inputs of(List<INDArray> in) {
            int n = in.size();
            boolean bias = n == 1 + DecoderLayerWeights.WEIGHTS + 3 + LAYOUT_INPUTS;
            if (!bias && n != 1 + DecoderLayerWeights.WEIGHTS + LAYOUT_INPUTS) {
                throw new IllegalArgumentException(OP + ": expected " + (1 + DecoderLayerWeights.WEIGHTS
                        + LAYOUT_INPUTS) + " inputs (or 3 more with q/k/v biases), got " + n);
            }
            int l = n - LAYOUT_INPUTS;
            return new Inputs(in.get(0), in.get(1), in.get(2), in.get(3), in.get(4), in.get(5), in.get(6),
                    in.get(7), in.get(8), in.get(9), bias ? in.get(10) : null, bias ? in.get(11) : null,
                    bias ? in.get(12) : null, in.get(l), in.get(l + 1), in.get(l + 2), in.get(l + 3));
        }

        /** Number of differentiable inputs: h and the weights (and biases). */
        int differentiable() {
            return 1 + DecoderLayerWeights.WEIGHTS + (bq == null ? 0 : 3);
        }

        DataType type() {
            return h.dataType();
        }

        /** The workspace layout these shapes need, after checking the shapes that tie the inputs together. */
        LayerWorkspace workspace() {
            if (h.rank() != 2 || node.rank() != 2 || cos.rank() != 2) {
                throw new IllegalArgumentException(OP + ": h must be [M,H], node and subtreeEnd [R,T], cos and sin "
                        + "[M,D]; got h " + FusedKernels.shape(h) + ", node " + FusedKernels.shape(node) + ", cos "
                        + FusedKernels.shape(cos));
            }
            long m = h.size(0);
            long d = cos.size(1);
            if (node.length() != m || !Arrays.equals(node.shape(), subtreeEnd.shape())) {
                throw new IllegalArgumentException(OP + ": node and subtreeEnd must be [R,T] with R*T = " + m
                        + " rows of h, got " + FusedKernels.shape(node) + " and " + FusedKernels.shape(subtreeEnd));
            }
            if (d <= 0 || wq.size(0) % d != 0 || wk.size(0) % d != 0 || wk.size(0) == 0
                    || (wq.size(0) / d) % (wk.size(0) / d) != 0) {
                throw new IllegalArgumentException(OP + ": q_proj rows " + wq.size(0) + " and k_proj rows "
                        + wk.size(0) + " must be multiples of the head dim " + d + " with query heads a multiple of "
                        + "kv heads");
            }
            return new LayerWorkspace(m, node.size(0), node.size(1), h.size(1), wq.size(0) / d, wk.size(0) / d, d,
                    wg.size(0));
        }
    }

    /** out = the layer applied to h; the saved activations are written to {@code storage}. */
    static void forward(Inputs a, double eps, double scale, INDArray out, INDArray storage) {
        DataType dt = a.type();
        LayerWorkspace lw = a.workspace();
        LayerWorkspace.Views ws = lw.place(storage, dt);
        long m = lw.rows();
        long q2 = lw.headsQ() * lw.headDim();
        long kv2 = lw.headsKv() * lw.headDim();
        LayerScratch scratch = LayerScratch.begin(dt, m * lw.hidden(), m * q2, m * kv2, m * lw.inter());
        INDArray x = scratch.take(m, lw.hidden());
        FusedKernels.rmsNormForward(OP, a.h(), a.inputNorm(), eps, x);
        INDArray q = scratch.take(m, q2);
        projectAndRope(x, a.wq(), a.bq(), a.cos(), a.sin(), q, ws.rows(QUERIES));
        INDArray k = scratch.take(m, kv2);
        projectAndRope(x, a.wk(), a.bk(), a.cos(), a.sin(), k, ws.rows(KEYS));
        FusedKernels.linearForward(OP, x, a.wv(), ws.rows(VALUES));
        addBias(ws.rows(VALUES), a.bv());
        NativeCpuAttention.forward(ws.heads(QUERIES), ws.heads(KEYS), ws.heads(VALUES), a.node(), a.subtreeEnd(),
                scale, ws.heads(ATTENTION), ws.rows(LSE));
        INDArray h1 = ws.rows(RESIDUAL);
        h1.assign(a.h());
        FusedKernels.linearForward(OP, ws.rows(ATTENTION), a.wo(), h1, true);          // h1 = h + o_proj(att)
        INDArray y = x;                                                                   // x is dead: reuse
        FusedKernels.rmsNormForward(OP, h1, a.postNorm(), eps, y);
        FusedKernels.linearForward(OP, y, a.wg(), ws.rows(GATE));
        FusedKernels.linearForward(OP, y, a.wu(), ws.rows(UP));
        INDArray act = scratch.take(m, lw.inter());
        FusedKernels.swiGluForward(OP, ws.rows(GATE), ws.rows(UP), act);
        out.assign(h1);
        FusedKernels.linearForward(OP, act, a.wd(), out, true);                          // out = h1 + down(act)
    }

    /**
     * Gradients of h and of every weight (then biases), in input order, from the saved activations and dOut; the
     * {@code grads} arrays are overwritten.
     */
    static void backward(Inputs a, double eps, double scale, INDArray storage, INDArray dOut, List<INDArray> grads) {
        DataType dt = a.type();
        LayerWorkspace lw = a.workspace();
        LayerWorkspace.Views ws = lw.views(storage, dt);
        long m = lw.rows();
        long hidden = lw.hidden();
        long inter = lw.inter();
        long q2 = lw.headsQ() * lw.headDim();
        long kv2 = lw.headsKv() * lw.headDim();
        LayerScratch scratch = LayerScratch.begin(dt, m * inter, m * inter, m * inter, m * hidden, m * hidden,
                m * hidden, m * q2, m * q2, m * kv2, m * kv2, m * kv2);
        INDArray gate = ws.rows(GATE);
        INDArray up = ws.rows(UP);
        INDArray h1 = ws.rows(RESIDUAL);

        // MLP: out = h1 + down(silu(gate(y)) * up(y)), y = post_attention_layernorm(h1)
        INDArray act = scratch.take(m, inter);
        FusedKernels.swiGluForward(OP, gate, up, act);
        INDArray dAct = scratch.take(m, inter);
        FusedKernels.linearBackward(OP, act, a.wd(), dOut, dAct, grads.get(9));
        INDArray dGate = act;                                                             // act is dead: reuse
        INDArray dUp = scratch.take(m, inter);
        FusedKernels.swiGluBackward(OP, gate, up, dAct, dGate, dUp);
        INDArray y = scratch.take(m, hidden);
        FusedKernels.rmsNormForward(OP, h1, a.postNorm(), eps, y);
        INDArray dy = scratch.take(m, hidden);
        FusedKernels.linearBackward(OP, y, a.wg(), dGate, dy, grads.get(7));
        FusedKernels.linearBackward(OP, y, a.wu(), dUp, dy, grads.get(8), true);
        INDArray dh1 = scratch.take(m, hidden);
        FusedKernels.rmsNormBackward(OP, h1, a.postNorm(), dy, eps, dh1, grads.get(6));
        dh1.addi(dOut);

        // attention: h1 = h + o_proj(attention(rope(q(x)), rope(k(x)), v(x))), x = input_layernorm(h)
        INDArray dAtt = scratch.take(m, q2);
        FusedKernels.linearBackward(OP, ws.rows(ATTENTION), a.wo(), dh1, dAtt, grads.get(5));
        INDArray dQr = scratch.take(lw.batch(), lw.seqlen(), lw.headsQ(), lw.headDim());
        INDArray dKr = scratch.take(lw.batch(), lw.seqlen(), lw.headsKv(), lw.headDim());
        INDArray dV = scratch.take(lw.batch(), lw.seqlen(), lw.headsKv(), lw.headDim());
        NativeCpuAttention.backward(ws.heads(QUERIES), ws.heads(KEYS), ws.heads(VALUES), a.node(), a.subtreeEnd(),
                ws.heads(ATTENTION), ws.rows(LSE), heads(dAtt, dQr), scale, dQr, dKr, dV);
        INDArray dq = dAtt;                                                               // dAtt is dead: reuse
        FusedKernels.ropeBackward(OP, rows(dQr), a.cos(), a.sin(), dq);
        INDArray dk = scratch.take(m, kv2);
        FusedKernels.ropeBackward(OP, rows(dKr), a.cos(), a.sin(), dk);
        INDArray dv = rows(dV);
        if (a.bq() != null) {
            grads.get(10).assign(dq.sum(0));
            grads.get(11).assign(dk.sum(0));
            grads.get(12).assign(dv.sum(0));
        }
        INDArray x = y;                                                                   // y is dead: reuse
        FusedKernels.rmsNormForward(OP, a.h(), a.inputNorm(), eps, x);
        INDArray dx = dy;                                                                 // dy is dead: reuse
        FusedKernels.linearBackward(OP, x, a.wq(), dq, dx, grads.get(2));
        FusedKernels.linearBackward(OP, x, a.wk(), dk, dx, grads.get(3), true);
        FusedKernels.linearBackward(OP, x, a.wv(), dv, dx, grads.get(4), true);
        FusedKernels.rmsNormBackward(OP, a.h(), a.inputNorm(), dx, eps, grads.get(0), grads.get(1));
        grads.get(0).addi(dh1);
    }

    private static void projectAndRope(INDArray x, INDArray w, INDArray bias, INDArray cos, INDArray sin,
                                       INDArray scratch, INDArray roped) {
        FusedKernels.linearForward(OP, x, w, scratch);
        addBias(scratch, bias);
        FusedKernels.ropeForward(OP, scratch, cos, sin, roped);
    }

    private static void addBias(INDArray y, INDArray bias) {
        if (bias != null) {
            y.addiRowVector(bias.reshape(1, bias.length()));
        }
    }

    /** A dense [M, heads*D] array viewed as the [R,T,heads,D] shape of {@code like} (no copy). */
    private static INDArray heads(INDArray rows, INDArray like) {
        return view(rows, like.shape());
    }

    /** A dense [R,T,heads,D] array viewed as [R*T, heads*D] (no copy). */
    private static INDArray rows(INDArray heads) {
        long[] s = heads.shape();
        return view(heads, s[0] * s[1], s[2] * s[3]);
    }

    private static INDArray view(INDArray dense, long... shape) {
        INDArray v = dense.reshape('c', shape);
        if (v.data().addressPointer().address() != dense.data().addressPointer().address()) {
            throw new IllegalStateException(OP + ": reshape copied a dense array");
        }
        return v;
    }
}
