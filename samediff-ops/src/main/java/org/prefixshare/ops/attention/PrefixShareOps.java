package org.prefixshare.ops.attention;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.imports.converters.ImportClassMapping;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.ops.exec.ExecutionerHook;
import org.prefixshare.ops.fused.FusedDecoderLayer;
import org.prefixshare.ops.fused.FusedDecoderLayerBp;
import org.prefixshare.ops.fused.FusedLabelLogProbs;
import org.prefixshare.ops.fused.FusedLabelLogProbsBp;
import org.prefixshare.ops.fused.FusedLinear;
import org.prefixshare.ops.fused.FusedLinearBp;
import org.prefixshare.ops.fused.FusedLmHeadLogProbs;
import org.prefixshare.ops.fused.FusedLmHeadLogProbsBp;
import org.prefixshare.ops.fused.FusedRmsNorm;
import org.prefixshare.ops.fused.FusedRmsNormBp;
import org.prefixshare.ops.fused.FusedRope;
import org.prefixshare.ops.fused.FusedRopeBp;
import org.prefixshare.ops.fused.FusedSwiGlu;
import org.prefixshare.ops.fused.FusedSwiGluBp;
import org.prefixshare.ops.fused.ZeroOf;
import org.prefixshare.ops.nativeload.NativeLibrary;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Locale;
import java.util.Map;

/**
 * The public entry point of prefix-shared attention.
 *
 * <pre>{@code
 * SDVariable out = PrefixShareOps.attention(sd, q, k, v, node, subtreeEnd, 1.0 / Math.sqrt(headDim));
 * }</pre>
 * q is {@code [B,T,Hq,D]}, k and v {@code [B,T,Hkv,D]} (Hq a multiple of Hkv), node and subtreeEnd {@code [B,T]}
 * (see {@link AncestorMask}). The implementation is the native kernel op when the native library is loaded, else
 * the dense SameDiff reference (logged once); {@code -Dprefixshare.attention=native|reference|auto} or the
 * overloads with an {@link Implementation} choose explicitly.
 *
 * <p>Call {@link #init()} (or any method here) before {@code SameDiff.load} of a graph that holds the op.
 */
public final class PrefixShareOps {

    private static final Logger log = LoggerFactory.getLogger(PrefixShareOps.class);
    public static final String IMPLEMENTATION_PROPERTY = "prefixshare.attention";

    /** Which implementation builds the attention. */
    public enum Implementation {
        /** Native kernels when loaded, else the dense reference. */
        AUTO,
        /** The native kernel op ({@link PrefixShareAttention}); fails when the library is not loaded. */
        NATIVE,
        /** The dense pure-SameDiff reference ({@link DenseReferenceAttention}). */
        REFERENCE
    }

    private static volatile boolean initialised;
    private static volatile boolean fallbackLogged;

    static {
        init();
    }

    private PrefixShareOps() {
    }

    /**
     * Installs the executioner hook and registers our ops (attention and the fused RMSNorm / RoPE / SwiGLU / linear /
     * label log-prob / LM head ops of {@link org.prefixshare.ops.fused.FusedOps}) with ND4J so graphs clone (gradients), save
     * and load. Idempotent.
     */
    public static void init() {
        if (initialised) {
            return;
        }
        synchronized (PrefixShareOps.class) {
            if (initialised) {
                return;
            }
            ExecutionerHook.install();
            Map<String, DifferentialFunction> ops = ImportClassMapping.getOpNameMapping();
            ops.putIfAbsent(PrefixShareAttention.OP_NAME, new PrefixShareAttention());
            ops.putIfAbsent(PrefixShareAttentionBp.OP_NAME, new PrefixShareAttentionBp());
            ops.putIfAbsent(FusedRmsNorm.OP_NAME, new FusedRmsNorm());
            ops.putIfAbsent(FusedRmsNormBp.OP_NAME, new FusedRmsNormBp());
            ops.putIfAbsent(FusedRope.OP_NAME, new FusedRope());
            ops.putIfAbsent(FusedRopeBp.OP_NAME, new FusedRopeBp());
            ops.putIfAbsent(FusedSwiGlu.OP_NAME, new FusedSwiGlu());
            ops.putIfAbsent(FusedSwiGluBp.OP_NAME, new FusedSwiGluBp());
            ops.putIfAbsent(FusedLinear.OP_NAME, new FusedLinear());
            ops.putIfAbsent(FusedLinearBp.OP_NAME, new FusedLinearBp());
            ops.putIfAbsent(FusedLabelLogProbs.OP_NAME, new FusedLabelLogProbs());
            ops.putIfAbsent(FusedLabelLogProbsBp.OP_NAME, new FusedLabelLogProbsBp());
            ops.putIfAbsent(FusedLmHeadLogProbs.OP_NAME, new FusedLmHeadLogProbs());
            ops.putIfAbsent(FusedLmHeadLogProbsBp.OP_NAME, new FusedLmHeadLogProbsBp());
            ops.putIfAbsent(FusedDecoderLayer.OP_NAME, new FusedDecoderLayer());
            ops.putIfAbsent(FusedDecoderLayerBp.OP_NAME, new FusedDecoderLayerBp());
            ops.putIfAbsent(ZeroOf.OP_NAME, new ZeroOf());
            initialised = true;
        }
    }

    /** Attention output {@code [B,T,Hq,D]} with the default implementation. */
    public static SDVariable attention(SameDiff sd, SDVariable q, SDVariable k, SDVariable v, SDVariable node,
                                       SDVariable subtreeEnd, double scale) {
        return attention(sd, q, k, v, node, subtreeEnd, scale, defaultImplementation());
    }

    /** Attention output {@code [B,T,Hq,D]} with the given implementation. */
    public static SDVariable attention(SameDiff sd, SDVariable q, SDVariable k, SDVariable v, SDVariable node,
                                       SDVariable subtreeEnd, double scale, Implementation implementation) {
        return attentionWithLse(sd, q, k, v, node, subtreeEnd, scale, implementation)[0];
    }

    /** {out [B,T,Hq,D], lse [B,Hq,T]}; head counts read from the static shapes of q and k. */
    public static SDVariable[] attentionWithLse(SameDiff sd, SDVariable q, SDVariable k, SDVariable v,
                                                SDVariable node, SDVariable subtreeEnd, double scale,
                                                Implementation implementation) {
        return attentionWithLse(sd, q, k, v, node, subtreeEnd, scale, staticHeads(q, "q"), staticHeads(k, "k"),
                implementation);
    }

    /**
     * {out [B,T,Hq,D], lse [B,Hq,T]} with the head counts given: use this when q and k are computed inside the
     * graph (SameDiff does not know their shapes before execution) and the dense reference may be chosen.
     */
    public static SDVariable[] attentionWithLse(SameDiff sd, SDVariable q, SDVariable k, SDVariable v,
                                                SDVariable node, SDVariable subtreeEnd, double scale, int headsQ,
                                                int headsKv, Implementation implementation) {
        init();
        if (resolve(implementation) == Implementation.NATIVE) {
            return new PrefixShareAttention(sd, q, k, v, node, subtreeEnd, scale).outputVariables();
        }
        if (headsQ <= 0 || headsKv <= 0 || headsQ % headsKv != 0) {
            throw new IllegalArgumentException("the dense reference needs the head counts (q " + headsQ + ", k/v "
                    + headsKv + "): pass them to attentionWithLse(..., headsQ, headsKv, implementation)");
        }
        return DenseReferenceAttention.build(sd, q, k, v, node, subtreeEnd, scale, headsQ, headsKv);
    }

    /** Heads of a [B,T,H,D] variable from its static shape, or -1 when unknown. */
    private static int staticHeads(SDVariable x, String name) {
        long[] shape = x.getShape();
        if (shape == null || shape.length != 4 || shape[2] <= 0) {
            return -1;
        }
        return (int) shape[2];
    }

    /** Eager forward on arrays with the native kernels: {out, lse} (freshly allocated). */
    public static INDArray[] forward(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd,
                                     double scale) {
        return forwardInto(q, k, v, node, subtreeEnd, scale, null, null);
    }

    /**
     * Eager forward into the given {@code out [B,T,Hq,D]} and {@code lse [B,Hq,T]} (a null one, and lse after a null
     * out, are allocated).
     * Reusing outputs across calls avoids faulting in fresh pages every time, which costs more than the kernel on
     * short or sparse rows.
     */
    public static INDArray[] forwardInto(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd,
                                         double scale, INDArray out, INDArray lse) {
        init();
        PrefixShareAttention op = new PrefixShareAttention();
        op.addInputArgument(q, k, v, node, subtreeEnd);
        op.addTArgument(scale);
        addOutputs(op, out, lse);
        return org.nd4j.linalg.factory.Nd4j.getExecutioner().exec(op);
    }

    /** Eager backward on arrays with the native kernels: {dq, dk, dv} (freshly allocated). */
    public static INDArray[] backward(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd,
                                      INDArray out, INDArray lse, INDArray dOut, double scale) {
        return backwardInto(q, k, v, node, subtreeEnd, out, lse, dOut, scale, null, null, null);
    }

    /**
     * Eager backward into the given gradients; a null one and those after it are allocated. See
     * {@link #forwardInto}.
     */
    public static INDArray[] backwardInto(INDArray q, INDArray k, INDArray v, INDArray node, INDArray subtreeEnd,
                                          INDArray out, INDArray lse, INDArray dOut, double scale,
                                          INDArray dq, INDArray dk, INDArray dv) {
        init();
        PrefixShareAttentionBp op = new PrefixShareAttentionBp();
        op.addInputArgument(q, k, v, node, subtreeEnd, out, lse, dOut);
        op.addTArgument(scale);
        addOutputs(op, dq, dk, dv);
        return org.nd4j.linalg.factory.Nd4j.getExecutioner().exec(op);
    }

    /** Leading non-null outputs become the op's output arguments (the executioner allocates the rest). */
    private static void addOutputs(org.nd4j.linalg.api.ops.DynamicCustomOp op, INDArray... outputs) {
        for (INDArray o : outputs) {
            if (o == null) {
                return;
            }
            op.addOutputArgument(o);
        }
    }

    /** The implementation {@link Implementation#AUTO} and the system property resolve to now. */
    public static Implementation defaultImplementation() {
        String value = System.getProperty(IMPLEMENTATION_PROPERTY, "auto").trim().toUpperCase(Locale.ROOT);
        try {
            return resolve(Implementation.valueOf(value));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-D" + IMPLEMENTATION_PROPERTY + " must be native, reference or auto,"
                    + " got '" + System.getProperty(IMPLEMENTATION_PROPERTY) + "'");
        }
    }

    private static Implementation resolve(Implementation implementation) {
        switch (implementation) {
            case NATIVE:
                NativeLibrary.require();
                return Implementation.NATIVE;
            case REFERENCE:
                return Implementation.REFERENCE;
            default:
                if (NativeLibrary.isAvailable()) {
                    return Implementation.NATIVE;
                }
                if (!fallbackLogged) {
                    fallbackLogged = true;
                    log.warn("*** prefix-shared attention uses the DENSE REFERENCE (native kernels unavailable: {}). "
                            + "Results are exact but time and memory grow with T^2. ***", NativeLibrary.failure());
                }
                return Implementation.REFERENCE;
        }
    }
}
