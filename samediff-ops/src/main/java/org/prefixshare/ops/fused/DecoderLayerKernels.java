package org.prefixshare.ops.fused;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.random.impl.BernoulliDistribution;
import org.nd4j.linalg.api.rng.Random;
import org.nd4j.linalg.factory.Nd4j;
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
 *
 * <p>With LoRA adapters ({@link LayerConfig#lora()}) every adapted projection adds {@code scale (dropout(x) A^T) B^T}
 * to its output, the base weights are frozen (their gradients are never computed: the backward of a frozen linear is
 * its input gradient only) and may be bfloat16, and only h and the adapters get gradients. With
 * {@link LayerConfig#recompute()} the forward saves nothing but what SameDiff keeps anyway (the layer's input) and the
 * backward first reruns the forward, bit for bit, into a per-thread workspace.
 */
final class DecoderLayerKernels {

    private static final String OP = FusedDecoderLayer.OP_NAME;

    private DecoderLayerKernels() {
    }

    /**
     * The forward op's inputs by role: h {@code [M,H]}, the adapters' A and B per projection (null where not adapted),
     * the weights of {@link DecoderLayerWeights} (biases null when absent), the RoPE tables cos and sin
     * {@code [M,D]}, the layout node and subtreeEnd {@code [R,T]}, and the dropout seed (null without dropout).
     * Input order: h, the adapters (A then B per adapted projection), the nine weights, the biases, cos, sin, node,
     * subtreeEnd, seed: everything that gets a gradient comes first, so the op can leave the rest out of its
     * gradient list.
     */
    record Inputs(INDArray h, INDArray[] a, INDArray[] b, INDArray inputNorm, INDArray wq, INDArray wk, INDArray wv,
                  INDArray wo, INDArray postNorm, INDArray wg, INDArray wu, INDArray wd, INDArray bq, INDArray bk,
                  INDArray bv, INDArray cos, INDArray sin, INDArray node, INDArray subtreeEnd, INDArray seed) {

        /** Number of trailing inputs that carry no gradient (cos, sin, node, subtreeEnd). */
        static final int LAYOUT_INPUTS = 4;

        static Inputs of(List<INDArray> in, LayerConfig c) {
            int n = in.size();
            int adapters = 2 * Integer.bitCount(c.loraMask());
            int seed = c.loraDropout() > 0 ? 1 : 0;
            int rest = n - 1 - adapters - seed - LAYOUT_INPUTS;
            if (rest != DecoderLayerWeights.WEIGHTS && rest != DecoderLayerWeights.WEIGHTS + 3) {
                throw new IllegalArgumentException(OP + ": expected " + (1 + adapters + DecoderLayerWeights.WEIGHTS
                        + LAYOUT_INPUTS + seed) + " inputs (or 3 more with q/k/v biases), got " + n);
            }
            boolean bias = rest == DecoderLayerWeights.WEIGHTS + 3;
            INDArray[] a = new INDArray[LayerProjection.values().length];
            INDArray[] b = new INDArray[a.length];
            int i = 1;
            for (LayerProjection p : LayerProjection.values()) {
                if (p.in(c.loraMask())) {
                    a[p.ordinal()] = in.get(i++);
                    b[p.ordinal()] = in.get(i++);
                }
            }
            int w = i;
            int l = w + rest;
            return new Inputs(in.get(0), a, b, in.get(w), in.get(w + 1), in.get(w + 2), in.get(w + 3),
                    in.get(w + 4), in.get(w + 5), in.get(w + 6), in.get(w + 7), in.get(w + 8),
                    bias ? in.get(w + 9) : null, bias ? in.get(w + 10) : null, bias ? in.get(w + 11) : null,
                    in.get(l), in.get(l + 1), in.get(l + 2), in.get(l + 3), seed == 1 ? in.get(l + 4) : null);
        }

        /** Number of inputs that get gradients: h and the adapters (LoRA), else h, the weights and the biases. */
        int differentiable(LayerConfig c) {
            return c.lora() ? 1 + 2 * Integer.bitCount(c.loraMask())
                    : 1 + DecoderLayerWeights.WEIGHTS + (bq == null ? 0 : 3);
        }

        /** The compute type: h's (the weights may be narrower when frozen). */
        DataType type() {
            return h.dataType();
        }

        /** The base weight of projection p. */
        INDArray weight(LayerProjection p) {
            return switch (p) {
                case Q -> wq;
                case K -> wk;
                case V -> wv;
                case O -> wo;
                case GATE -> wg;
                case UP -> wu;
                case DOWN -> wd;
            };
        }

        /** The adapters' rank (0 without adapters). */
        long rank() {
            for (INDArray x : a) {
                if (x != null) {
                    return x.size(0);
                }
            }
            return 0;
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
            for (LayerProjection p : LayerProjection.values()) {
                INDArray ap = a[p.ordinal()];
                INDArray bp = b[p.ordinal()];
                INDArray w = weight(p);
                if (ap != null && (ap.rank() != 2 || bp.rank() != 2 || ap.size(1) != w.size(1)
                        || bp.size(0) != w.size(0) || bp.size(1) != ap.size(0) || ap.size(0) != rank())) {
                    throw new IllegalArgumentException(OP + ": LoRA of " + p + " must be A [r," + w.size(1) + "] and "
                            + "B [" + w.size(0) + ",r] with one r for the layer, got A " + FusedKernels.shape(ap)
                            + " and B " + FusedKernels.shape(bp));
                }
            }
            return new LayerWorkspace(m, node.size(0), node.size(1), h.size(1), wq.size(0) / d, wk.size(0) / d, d,
                    wg.size(0));
        }
    }

    /** Elements of the workspace output: the whole saved state, or one when it is recomputed in the backward. */
    static long workspaceLength(Inputs a, LayerConfig c) {
        return c.recompute() ? 1 : a.workspace().length();
    }

    /** out = the layer applied to h; the saved activations are written to {@code storage} (unless recomputed). */
    static void forward(Inputs a, LayerConfig c, INDArray out, INDArray storage) {
        if (c.recompute()) {
            a.workspace(); // the shape checks
            RecomputeBuffers.Views v = RecomputeBuffers.of(a);
            forwardInto(a, c, out, v.workspace());
            storage.assign(0);
        } else {
            forwardInto(a, c, out, storage);
        }
    }

    private static void forwardInto(Inputs a, LayerConfig c, INDArray out, INDArray storage) {
        DataType dt = a.type();
        LayerWorkspace lw = a.workspace();
        LayerWorkspace.Views ws = lw.place(storage, dt);
        long m = lw.rows();
        long q2 = lw.headsQ() * lw.headDim();
        long kv2 = lw.headsKv() * lw.headDim();
        LayerScratch scratch = LayerScratch.begin(dt, m * lw.hidden(), m * q2, m * kv2, m * lw.inter(),
                Adapters.scratch(a, c, lw, false));
        Adapters lora = new Adapters(a, c, scratch, lw, false);
        INDArray x = scratch.take(m, lw.hidden());
        FusedKernels.rmsNormForward(OP, a.h(), a.inputNorm(), c.eps(), x);
        INDArray q = scratch.take(m, q2);
        projectAndRope(lora, LayerProjection.Q, x, a.wq(), a.bq(), a.cos(), a.sin(), q, ws.rows(QUERIES));
        INDArray k = scratch.take(m, kv2);
        projectAndRope(lora, LayerProjection.K, x, a.wk(), a.bk(), a.cos(), a.sin(), k, ws.rows(KEYS));
        lora.project(LayerProjection.V, x, a.wv(), ws.rows(VALUES), false);
        addBias(ws.rows(VALUES), a.bv());
        NativeCpuAttention.forward(ws.heads(QUERIES), ws.heads(KEYS), ws.heads(VALUES), a.node(), a.subtreeEnd(),
                c.scale(), ws.heads(ATTENTION), ws.rows(LSE));
        INDArray h1 = ws.rows(RESIDUAL);
        h1.assign(a.h());
        lora.project(LayerProjection.O, ws.rows(ATTENTION), a.wo(), h1, true);           // h1 = h + o_proj(att)
        INDArray y = x;                                                                   // x is dead: reuse
        FusedKernels.rmsNormForward(OP, h1, a.postNorm(), c.eps(), y);
        lora.project(LayerProjection.GATE, y, a.wg(), ws.rows(GATE), false);
        lora.project(LayerProjection.UP, y, a.wu(), ws.rows(UP), false);
        INDArray act = scratch.take(m, lw.inter());
        FusedKernels.swiGluForward(OP, ws.rows(GATE), ws.rows(UP), act);
        out.assign(h1);
        lora.project(LayerProjection.DOWN, act, a.wd(), out, true);                      // out = h1 + down(act)
    }

    /**
     * Gradients of the differentiable inputs ({@link Inputs#differentiable}), in input order, from the saved
     * activations (or, with recompute, a rerun of the forward) and dOut; the {@code grads} arrays are overwritten.
     */
    static void backward(Inputs a, LayerConfig c, INDArray storage, INDArray dOut, List<INDArray> grads) {
        if (c.recompute()) {
            RecomputeBuffers.Views v = RecomputeBuffers.of(a);
            forwardInto(a, c, v.out(), v.workspace());
            storage = v.workspace();
        }
        Grads g = new Grads(a, c, grads);
        DataType dt = a.type();
        LayerWorkspace lw = a.workspace();
        LayerWorkspace.Views ws = lw.views(storage, dt);
        long m = lw.rows();
        long hidden = lw.hidden();
        long inter = lw.inter();
        long q2 = lw.headsQ() * lw.headDim();
        long kv2 = lw.headsKv() * lw.headDim();
        LayerScratch scratch = LayerScratch.begin(dt, m * inter, m * inter, m * inter, m * hidden, m * hidden,
                m * hidden, m * q2, m * q2, m * kv2, m * kv2, m * kv2, Adapters.scratch(a, c, lw, true),
                c.lora() ? hidden : 0);
        Adapters lora = new Adapters(a, c, scratch, lw, true);
        INDArray frozenNorm = c.lora() ? scratch.take(hidden) : null;                    // a norm's unused dw
        INDArray gate = ws.rows(GATE);
        INDArray up = ws.rows(UP);
        INDArray h1 = ws.rows(RESIDUAL);

        // MLP: out = h1 + down(silu(gate(y)) * up(y)), y = post_attention_layernorm(h1)
        INDArray act = scratch.take(m, inter);
        FusedKernels.swiGluForward(OP, gate, up, act);
        INDArray dAct = scratch.take(m, inter);
        lora.projectBackward(LayerProjection.DOWN, act, a.wd(), dOut, dAct, g.weight(9), false, g);
        INDArray dGate = act;                                                             // act is dead: reuse
        INDArray dUp = scratch.take(m, inter);
        FusedKernels.swiGluBackward(OP, gate, up, dAct, dGate, dUp);
        INDArray y = scratch.take(m, hidden);
        FusedKernels.rmsNormForward(OP, h1, a.postNorm(), c.eps(), y);
        INDArray dy = scratch.take(m, hidden);
        lora.projectBackward(LayerProjection.GATE, y, a.wg(), dGate, dy, g.weight(7), false, g);
        lora.projectBackward(LayerProjection.UP, y, a.wu(), dUp, dy, g.weight(8), true, g);
        INDArray dh1 = scratch.take(m, hidden);
        FusedKernels.rmsNormBackward(OP, h1, a.postNorm(), dy, c.eps(), dh1, g.weightOr(6, frozenNorm));
        dh1.addi(dOut);

        // attention: h1 = h + o_proj(attention(rope(q(x)), rope(k(x)), v(x))), x = input_layernorm(h)
        INDArray dAtt = scratch.take(m, q2);
        lora.projectBackward(LayerProjection.O, ws.rows(ATTENTION), a.wo(), dh1, dAtt, g.weight(5), false, g);
        INDArray dQr = scratch.take(lw.batch(), lw.seqlen(), lw.headsQ(), lw.headDim());
        INDArray dKr = scratch.take(lw.batch(), lw.seqlen(), lw.headsKv(), lw.headDim());
        INDArray dV = scratch.take(lw.batch(), lw.seqlen(), lw.headsKv(), lw.headDim());
        NativeCpuAttention.backward(ws.heads(QUERIES), ws.heads(KEYS), ws.heads(VALUES), a.node(), a.subtreeEnd(),
                ws.heads(ATTENTION), ws.rows(LSE), heads(dAtt, dQr), c.scale(), dQr, dKr, dV);
        INDArray dq = dAtt;                                                               // dAtt is dead: reuse
        FusedKernels.ropeBackward(OP, rows(dQr), a.cos(), a.sin(), dq);
        INDArray dk = scratch.take(m, kv2);
        FusedKernels.ropeBackward(OP, rows(dKr), a.cos(), a.sin(), dk);
        INDArray dv = rows(dV);
        if (a.bq() != null && !c.lora()) {
            g.weight(10).assign(dq.sum(0));
            g.weight(11).assign(dk.sum(0));
            g.weight(12).assign(dv.sum(0));
        }
        INDArray x = y;                                                                   // y is dead: reuse
        FusedKernels.rmsNormForward(OP, a.h(), a.inputNorm(), c.eps(), x);
        INDArray dx = dy;                                                                 // dy is dead: reuse
        lora.projectBackward(LayerProjection.Q, x, a.wq(), dq, dx, g.weight(2), false, g);
        lora.projectBackward(LayerProjection.K, x, a.wk(), dk, dx, g.weight(3), true, g);
        lora.projectBackward(LayerProjection.V, x, a.wv(), dv, dx, g.weight(4), true, g);
        FusedKernels.rmsNormBackward(OP, a.h(), a.inputNorm(), dx, c.eps(), g.h(), g.weightOr(1, frozenNorm));
        g.h().addi(dh1);
    }

    private static void projectAndRope(Adapters lora, LayerProjection p, INDArray x, INDArray w, INDArray bias,
                                       INDArray cos, INDArray sin, INDArray scratch, INDArray roped) {
        lora.project(p, x, w, scratch, false);
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

    /**
     * Where each gradient goes: by role, into the op's outputs (h first, then the weights and biases in input order,
     * or, with adapters, A and B per adapted projection).
     */
    private static final class Grads {
        private final LayerConfig c;
        private final List<INDArray> out;
        private final int[] adapterIndex = new int[LayerProjection.values().length];

        Grads(Inputs a, LayerConfig c, List<INDArray> out) {
            this.c = c;
            this.out = out;
            int i = 1;
            for (LayerProjection p : LayerProjection.values()) {
                adapterIndex[p.ordinal()] = p.in(c.loraMask()) ? i : -1;
                i += p.in(c.loraMask()) ? 2 : 0;
            }
        }

        INDArray h() {
            return out.get(0);
        }

        /** The gradient of weight input {@code i} (1-based as in the op's inputs without adapters), null if frozen. */
        INDArray weight(int i) {
            return c.lora() ? null : out.get(i);
        }

        /** {@link #weight}, or {@code scratch} for a frozen weight whose kernel computes a gradient regardless. */
        INDArray weightOr(int i, INDArray scratch) {
            return c.lora() ? scratch : out.get(i);
        }

        INDArray a(LayerProjection p) {
            return out.get(adapterIndex[p.ordinal()]);
        }

        INDArray b(LayerProjection p) {
            return out.get(adapterIndex[p.ordinal()] + 1);
        }
    }

    /**
     * The linear projections with their adapters: {@code y (+)= x W^T + scale (drop(x) A^T) B^T}. The dropout mask of
     * a projection is drawn from the step's seed, the layer and the projection, so the forward, a recomputed forward
     * and the backward see the same one. Its temporaries (the rank-r products, the dropped input) are taken from the
     * call's scratch once and reused by every projection.
     */
    private static final class Adapters {
        private final Inputs in;
        private final LayerConfig c;
        private final INDArray u;
        private final INDArray du;
        private final INDArray wide;
        private final INDArray wideGrad;

        /** Scratch elements the adapters of a forward (or backward) call take. */
        static long scratch(Inputs in, LayerConfig c, LayerWorkspace lw, boolean backward) {
            if (!c.lora()) {
                return 0;
            }
            long width = widest(lw);
            long n = (backward ? 2 : 1) * lw.rows() * in.rank();
            return n + (dropout(in, c) ? (backward ? 2 : 1) * lw.rows() * width : 0);
        }

        private static long widest(LayerWorkspace lw) {
            return Math.max(lw.inter(), Math.max(lw.hidden(), lw.headsQ() * lw.headDim()));
        }

        private static boolean dropout(Inputs in, LayerConfig c) {
            return c.loraDropout() > 0 && in.seed() != null && in.seed().getLong(0) >= 0;
        }

        Adapters(Inputs in, LayerConfig c, LayerScratch scratch, LayerWorkspace lw, boolean backward) {
            this.in = in;
            this.c = c;
            long m = lw.rows();
            boolean drop = c.lora() && dropout(in, c);
            this.u = c.lora() ? scratch.take(m * in.rank()) : null;
            this.du = c.lora() && backward ? scratch.take(m * in.rank()) : null;
            this.wide = drop ? scratch.take(m * widest(lw)) : null;
            this.wideGrad = drop && backward ? scratch.take(m * widest(lw)) : null;
        }

        private boolean adapted(LayerProjection p) {
            return in.a()[p.ordinal()] != null;
        }

        /** The first rows x cols elements of a flat scratch array, as a dense [rows, cols] view (no copy). */
        private static INDArray shaped(INDArray flat, long rows, long cols) {
            long[] shape = {rows, cols};
            return Nd4j.create(flat.data(), shape, Nd4j.getStrides(shape, 'c'), flat.offset(), 'c');
        }

        void project(LayerProjection p, INDArray x, INDArray w, INDArray y, boolean accumulate) {
            FusedKernels.linearForward(OP, x, w, y, accumulate);
            if (!adapted(p)) {
                return;
            }
            INDArray uu = shaped(u, x.size(0), in.rank());
            FusedKernels.linearForward(OP, dropped(p, x), in.a()[p.ordinal()], uu);          // u = drop(x) A^T
            uu.muli(c.loraScale());
            FusedKernels.linearForward(OP, uu, in.b()[p.ordinal()], y, true);               // y += s u B^T
        }

        /**
         * dx (+)= dy W (+ the adapter's share) for a projection y = x W^T (+ adapter); dw (null: frozen, skipped)
         * = dy^T x; with an adapter dB = dy^T (s drop(x) A^T) and dA = (s dy B)^T drop(x).
         */
        void projectBackward(LayerProjection p, INDArray x, INDArray w, INDArray dy, INDArray dx, INDArray dw,
                             boolean accumulateDx, Grads g) {
            FusedKernels.linearBackward(OP, x, w, dy, dx, dw, accumulateDx);
            if (!adapted(p)) {
                return;
            }
            INDArray xd = dropped(p, x);
            INDArray uu = shaped(u, x.size(0), in.rank());
            FusedKernels.linearForward(OP, xd, in.a()[p.ordinal()], uu);
            uu.muli(c.loraScale());                                                          // u = s drop(x) A^T
            INDArray duu = shaped(du, x.size(0), in.rank());
            FusedKernels.linearBackward(OP, uu, in.b()[p.ordinal()], dy, duu, g.b(p));      // du = dy B, dB
            duu.muli(c.loraScale());
            if (xd == x) {
                FusedKernels.linearBackward(OP, x, in.a()[p.ordinal()], duu, dx, g.a(p), true); // dx += du A, dA
            } else {
                INDArray dxd = shaped(wideGrad, x.size(0), x.size(1));
                FusedKernels.linearBackward(OP, xd, in.a()[p.ordinal()], duu, dxd, g.a(p), false);
                dx.addi(applyDropMask(p, x, dxd));
            }
        }

        /** x, or x with the projection's dropout applied (into scratch) when training with dropout. */
        private INDArray dropped(LayerProjection p, INDArray x) {
            if (wide == null) {
                return x;
            }
            return applyDropMask(p, x, shaped(wide, x.size(0), x.size(1)).assign(x));
        }

        /**
         * {@code target} times the scaled keep mask (1 / (1 - p) or 0 per element) of projection p, regenerated from
         * the seed (x gives its shape). The mask is freed at once: left to the garbage collector, masks of a 7B-class
         * layer pile up by the gigabyte.
         */
        private INDArray applyDropMask(LayerProjection p, INDArray x, INDArray target) {
            long seed = (in.seed().getLong(0) * 31 + c.loraSalt()) * 0x9E3779B97F4A7C15L + p.ordinal();
            Random rng = Nd4j.getRandomFactory().getNewRandomInstance(seed);
            INDArray keep = Nd4j.createUninitializedDetached(x.dataType(), x.shape());
            Nd4j.getExecutioner().exec(new BernoulliDistribution(keep, 1.0 - c.loraDropout()), rng);
            target.muli(keep.muli(1.0 / (1.0 - c.loraDropout())));
            keep.close();
            return target;
        }
    }
}
