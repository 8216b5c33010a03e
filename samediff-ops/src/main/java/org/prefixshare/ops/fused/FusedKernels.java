package org.prefixshare.ops.fused;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.prefixshare.ops.nativeload.NativeKernels;
import org.prefixshare.ops.nativeload.NativeLibrary;

import static org.prefixshare.ops.nativeload.NativeArrays.address;
import static org.prefixshare.ops.nativeload.NativeArrays.cast;
import static org.prefixshare.ops.nativeload.NativeArrays.copyBack;
import static org.prefixshare.ops.nativeload.NativeArrays.denseC;
import static org.prefixshare.ops.nativeload.NativeArrays.isDenseC;
import static org.prefixshare.ops.nativeload.NativeArrays.keepAlive;
import static org.prefixshare.ops.nativeload.NativeKernels.dtypeCode;
import static org.prefixshare.ops.nativeload.NativeKernels.storageCode;

import java.util.Arrays;

/**
 * Shape checks of the fused ops and their calls into the native kernels on ND4J arrays. Every tensor is seen as rows
 * times its last dimension; the kernels need dense c-order arrays of one type (float or double, the type of the
 * first input): other inputs are cast or copied once ({@code dup('c')}), outputs that cannot be written in place are
 * computed into a scratch array and assigned. Errors name the op and the offending shape.
 */
final class FusedKernels {

    private FusedKernels() {
    }

    // ------------------------------------------------------------------------------------------------ shapes

    /** Checks x {@code [..., H]} and w (H elements, any shape); returns H. */
    static long rmsNormCols(String op, INDArray x, INDArray w) {
        requireRank(op, "x", x, 1);
        long cols = x.size(x.rank() - 1);
        if (cols <= 0 || w.length() != cols) {
            throw new IllegalArgumentException(op + ": w must have as many elements as the last dimension of x "
                    + shape(x) + " (" + cols + "), got shape " + shape(w));
        }
        return cols;
    }

    /** Checks x {@code [..., heads*D]}, cos and sin {@code [..., D]} (same rows, D even); returns {heads, D}. */
    static int[] ropeHeads(String op, INDArray x, INDArray cos, INDArray sin) {
        requireRank(op, "x", x, 1);
        requireRank(op, "cos", cos, 1);
        if (!Arrays.equals(cos.shape(), sin.shape())) {
            throw new IllegalArgumentException(op + ": cos " + shape(cos) + " and sin " + shape(sin)
                    + " must have the same shape");
        }
        long d = cos.size(cos.rank() - 1);
        long width = x.size(x.rank() - 1);
        if (d <= 0 || d % 2 != 0 || width % d != 0 || width == 0) {
            throw new IllegalArgumentException(op + ": the last dimension of x " + shape(x) + " must be heads * D "
                    + "with D = the last dimension of cos " + shape(cos) + ", and D even");
        }
        if (x.length() / width != cos.length() / d) {
            throw new IllegalArgumentException(op + ": x " + shape(x) + " has " + x.length() / width
                    + " rows but cos " + shape(cos) + " has " + cos.length() / d + " (one cos/sin row per token)");
        }
        return new int[]{Math.toIntExact(width / d), Math.toIntExact(d)};
    }

    /** Checks x {@code [..., in]} against w {@code [out, in]}; returns the output shape {@code [..., out]}. */
    static long[] linearOutputShape(String op, INDArray x, INDArray w) {
        requireRank(op, "x", x, 1);
        requireRank(op, "w", w, 2);
        if (w.rank() != 2 || x.size(x.rank() - 1) != w.size(1)) {
            throw new IllegalArgumentException(op + ": w must be [out, in] with in = the last dimension of x "
                    + shape(x) + ", got w " + shape(w));
        }
        long[] y = x.shape().clone();
        y[y.length - 1] = w.size(0);
        return y;
    }

    /** Checks that every array has the shape of the first. */
    static void requireSameShape(String op, String[] names, INDArray... arrays) {
        for (int i = 1; i < arrays.length; i++) {
            if (!Arrays.equals(arrays[0].shape(), arrays[i].shape())) {
                throw new IllegalArgumentException(op + ": " + names[i] + " " + shape(arrays[i]) + " must have the "
                        + "shape of " + names[0] + " " + shape(arrays[0]));
            }
        }
        requireRank(op, names[0], arrays[0], 1);
    }

    private static void requireRank(String op, String name, INDArray a, int min) {
        if (a == null) {
            throw new IllegalArgumentException(op + ": input " + name + " is missing");
        }
        if (a.rank() < min) {
            throw new IllegalArgumentException(op + ": " + name + " must have rank >= " + min + ", got shape "
                    + shape(a));
        }
    }

    static String shape(INDArray a) {
        return Arrays.toString(a.shape());
    }

    // ------------------------------------------------------------------------------------------------ kernels

    static void rmsNormForward(String op, INDArray x, INDArray w, double eps, INDArray y) {
        long cols = rmsNormCols(op, x, w);
        DataType dt = kernelType(op, x);
        long rows = x.length() / cols;
        INDArray yy = writable(op, "y", y, dt, x);
        if (rows > 0) {
            x = dense(x, dt);
            w = dense(w, dt);
            NativeKernels.rmsNormForward(dtypeCode(dt), address(x), address(w), address(yy), rows, cols, eps,
                    NativeKernels.THREADS);
            keepAlive(x, w);
        }
        copyBack(yy, y);
    }

    static void rmsNormBackward(String op, INDArray x, INDArray w, INDArray dy, double eps, INDArray dx,
                                INDArray dw) {
        long cols = rmsNormCols(op, x, w);
        requireSameShape(op, new String[]{"x", "dy"}, x, dy);
        DataType dt = kernelType(op, x);
        long rows = x.length() / cols;
        INDArray gx = writable(op, "dx", dx, dt, x);
        INDArray gw = writable(op, "dw", dw, dt, w);
        if (rows > 0) {
            x = dense(x, dt);
            w = dense(w, dt);
            dy = dense(dy, dt);
            NativeKernels.rmsNormBackward(dtypeCode(dt), address(x), address(w), address(dy), address(gx), address(gw),
                    rows, cols, eps, NativeKernels.THREADS);
            keepAlive(x, w, dy);
        } else {
            gw.assign(0);
        }
        copyBack(gx, dx);
        copyBack(gw, dw);
    }

    static void ropeForward(String op, INDArray x, INDArray cos, INDArray sin, INDArray y) {
        int[] hd = ropeHeads(op, x, cos, sin);
        DataType dt = kernelType(op, x);
        long rows = cos.length() / hd[1];
        INDArray yy = writable(op, "y", y, dt, x);
        if (rows > 0) {
            x = dense(x, dt);
            cos = dense(cos, dt);
            sin = dense(sin, dt);
            NativeKernels.ropeForward(dtypeCode(dt), address(x), address(cos), address(sin), address(yy), rows, hd[0],
                    hd[1], NativeKernels.THREADS);
            keepAlive(x, cos, sin);
        }
        copyBack(yy, y);
    }

    static void ropeBackward(String op, INDArray dy, INDArray cos, INDArray sin, INDArray dx) {
        int[] hd = ropeHeads(op, dy, cos, sin);
        DataType dt = kernelType(op, dy);
        long rows = cos.length() / hd[1];
        INDArray gx = writable(op, "dx", dx, dt, dy);
        if (rows > 0) {
            dy = dense(dy, dt);
            cos = dense(cos, dt);
            sin = dense(sin, dt);
            NativeKernels.ropeBackward(dtypeCode(dt), address(dy), address(cos), address(sin), address(gx), rows, hd[0],
                    hd[1], NativeKernels.THREADS);
            keepAlive(dy, cos, sin);
        }
        copyBack(gx, dx);
    }

    static void swiGluForward(String op, INDArray gate, INDArray up, INDArray y) {
        requireSameShape(op, new String[]{"gate", "up"}, gate, up);
        DataType dt = kernelType(op, gate);
        long cols = Math.max(1, gate.size(gate.rank() - 1));
        long rows = gate.length() / cols;
        INDArray yy = writable(op, "y", y, dt, gate);
        if (rows > 0) {
            gate = dense(gate, dt);
            up = dense(up, dt);
            NativeKernels.swiGluForward(dtypeCode(dt), address(gate), address(up), address(yy), rows, cols,
                    NativeKernels.THREADS);
            keepAlive(gate, up);
        }
        copyBack(yy, y);
    }

    static void swiGluBackward(String op, INDArray gate, INDArray up, INDArray dy, INDArray dgate, INDArray dup) {
        requireSameShape(op, new String[]{"gate", "up", "dy"}, gate, up, dy);
        DataType dt = kernelType(op, gate);
        long cols = Math.max(1, gate.size(gate.rank() - 1));
        long rows = gate.length() / cols;
        INDArray gg = writable(op, "dgate", dgate, dt, gate);
        INDArray gu = writable(op, "dup", dup, dt, gate);
        if (rows > 0) {
            gate = dense(gate, dt);
            up = dense(up, dt);
            dy = dense(dy, dt);
            NativeKernels.swiGluBackward(dtypeCode(dt), address(gate), address(up), address(dy), address(gg),
                    address(gu), rows, cols, NativeKernels.THREADS);
            keepAlive(gate, up, dy);
        }
        copyBack(gg, dgate);
        copyBack(gu, dup);
    }

    /**
     * y = x w^T: [rows, in] x [in, out] with w [out, in] read transposed through its strides. x FLOAT or DOUBLE; w of
     * that type, or BFLOAT16 beside FLOAT x (a frozen base weight kept at two bytes a parameter: the kernel widens it
     * to float32 exactly while packing, so y is bit for bit that of a float32 w holding the same values).
     */
    static void linearForward(String op, INDArray x, INDArray w, INDArray y) {
        linearForward(op, x, w, y, false);
    }

    /** {@code y (+)= x w^T}: as {@link #linearForward(String, INDArray, INDArray, INDArray)}, adding into y's values. */
    static void linearForward(String op, INDArray x, INDArray w, INDArray y, boolean accumulate) {
        long[] yShape = linearOutputShape(op, x, w);
        DataType dt = kernelType(op, x);
        DataType wt = weightType(w, dt);
        long in = w.size(1);
        long out = w.size(0);
        long rows = in == 0 ? 0 : x.length() / in;
        INDArray yy = writableShaped(op, "y", y, dt, yShape);
        if (accumulate && yy != y) {
            yy.assign(y);
        }
        if (rows > 0 && out > 0) {
            x = dense(x, dt);
            w = dense(w, wt);
            NativeKernels.gemm(dtypeCode(dt), storageCode(wt), rows, out, in, address(x), in, 1, address(w), 1, in,
                    address(yy), out, accumulate, NativeKernels.THREADS);
            keepAlive(x, w);
        } else if (!accumulate) {
            yy.assign(0);
        }
        copyBack(yy, y);
    }

    /**
     * dx = dy w ([rows, out] x [out, in]) and dw = dy^T x ([out, rows] x [rows, in]); {@code dw == null}: a frozen
     * weight, dx only. Types as for {@link #linearForward(String, INDArray, INDArray, INDArray)}.
     */
    static void linearBackward(String op, INDArray x, INDArray w, INDArray dy, INDArray dx, INDArray dw) {
        linearBackward(op, x, w, dy, dx, dw, false);
    }

    /**
     * {@code dx (+)= dy w} and {@code dw = dy^T x}: as {@link #linearBackward(String, INDArray, INDArray, INDArray,
     * INDArray, INDArray)}, adding into dx's values when {@code accumulateDx} (a layer input read by several linears).
     * {@code dw == null} skips the weight gradient's product altogether (a frozen weight: LoRA's base, a bfloat16 w).
     */
    static void linearBackward(String op, INDArray x, INDArray w, INDArray dy, INDArray dx, INDArray dw,
                               boolean accumulateDx) {
        long[] yShape = linearOutputShape(op, x, w);
        if (!Arrays.equals(dy.shape(), yShape)) {
            throw new IllegalArgumentException(op + ": dy must have the output shape " + Arrays.toString(yShape)
                    + ", got " + shape(dy));
        }
        DataType dt = kernelType(op, x);
        DataType wt = weightType(w, dt);
        long in = w.size(1);
        long out = w.size(0);
        long rows = in == 0 ? 0 : x.length() / in;
        INDArray gx = writable(op, "dx", dx, dt, x);
        INDArray gw = dw == null ? null : writable(op, "dw", dw, dt, w);
        if (accumulateDx && gx != dx) {
            gx.assign(dx);
        }
        if (rows > 0 && out > 0 && in > 0) {
            dy = dense(dy, dt);
            w = dense(w, wt);
            NativeKernels.gemm(dtypeCode(dt), storageCode(wt), rows, in, out, address(dy), out, 1, address(w), in, 1,
                    address(gx), in, accumulateDx, NativeKernels.THREADS);
            if (gw != null) {
                x = dense(x, dt);
                NativeKernels.gemm(dtypeCode(dt), dtypeCode(dt), out, in, rows, address(dy), 1, out, address(x), in,
                        1, address(gw), in, false, NativeKernels.THREADS);
            }
            keepAlive(x, w, dy);
        } else {
            if (!accumulateDx) {
                gx.assign(0);
            }
            if (gw != null) {
                gw.assign(0);
            }
        }
        copyBack(gx, dx);
        if (gw != null) {
            copyBack(gw, dw);
        }
    }

    /** Checks logits {@code [N,V]} against labels (N elements); returns the output shape {@code [N]}. */
    static long[] labelLogProbShape(String op, INDArray logits, INDArray labels) {
        requireRank(op, "logits", logits, 2);
        requireRank(op, "labels", labels, 1);
        if (logits.rank() != 2 || labels.length() != logits.size(0)) {
            throw new IllegalArgumentException(op + ": logits must be [N, V] and labels hold N values, got logits "
                    + shape(logits) + " and labels " + shape(labels));
        }
        return new long[]{logits.size(0)};
    }

    /** {@link #labelLogProbShape}'s checks, then the labels as dense int32, each checked to lie in the vocabulary. */
    private static INDArray labelIndices(String op, INDArray logits, INDArray labels) {
        labelLogProbShape(op, logits, labels);
        return tokenIds(op, labels, logits.size(1));
    }

    /** Labels of any numeric type (INT32 feeds, float-typed placeholders) as dense int32, each in [0, vocab). */
    private static INDArray tokenIds(String op, INDArray labels, long vocab) {
        int[] ids = labels.reshape(labels.length()).toIntVector();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException(op + ": label " + ids[i] + " at position " + i
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        return Nd4j.createFromArray(ids);
    }

    /** logp[n] = log softmax(logits[n])[labels[n]]. */
    static void labelLogProbForward(String op, INDArray logits, INDArray labels, INDArray logp) {
        INDArray ids = labelIndices(op, logits, labels);
        DataType dt = kernelType(op, logits);
        INDArray out = writableShaped(op, "logp", logp, dt, labels.shape());
        long rows = logits.size(0);
        if (rows > 0 && logits.size(1) > 0) {
            logits = dense(logits, dt);
            NativeKernels.labelLogProbForward(dtypeCode(dt), address(logits), address(ids), address(out), rows,
                    logits.size(1), NativeKernels.THREADS);
            keepAlive(logits, ids);
        }
        copyBack(out, logp);
    }

    /** dLogits[n, j] = dy[n] ([j == labels[n]] - softmax(logits[n])_j). */
    static void labelLogProbBackward(String op, INDArray logits, INDArray labels, INDArray dy, INDArray dLogits) {
        INDArray ids = labelIndices(op, logits, labels);
        if (dy.length() != logits.size(0)) {
            throw new IllegalArgumentException(op + ": dy must hold one value per row of logits " + shape(logits)
                    + ", got " + shape(dy));
        }
        DataType dt = kernelType(op, logits);
        INDArray gx = writable(op, "dLogits", dLogits, dt, logits);
        long rows = logits.size(0);
        if (rows > 0 && logits.size(1) > 0) {
            logits = dense(logits, dt);
            dy = dense(dy, dt);
            NativeKernels.labelLogProbBackward(dtypeCode(dt), address(logits), address(ids), address(dy),
                    address(gx), rows, logits.size(1), NativeKernels.THREADS);
            keepAlive(logits, ids, dy);
        }
        copyBack(gx, dLogits);
    }

    /**
     * Checks hidden {@code [N,H]}, head {@code [V,H]} and labels (N values); returns the output shape {@code [N]}
     * (of logp and of the saved lse).
     */
    static long[] lmHeadShape(String op, INDArray hidden, INDArray head, INDArray labels) {
        requireRank(op, "hidden", hidden, 2);
        requireRank(op, "head", head, 2);
        requireRank(op, "labels", labels, 1);
        if (hidden.rank() != 2 || head.rank() != 2 || head.size(1) != hidden.size(1)
                || labels.length() != hidden.size(0) || head.size(0) == 0 || head.size(1) == 0) {
            throw new IllegalArgumentException(op + ": need hidden [N, H], head [V, H] (V, H > 0) and N labels, got "
                    + "hidden " + shape(hidden) + ", head " + shape(head) + " and labels " + shape(labels));
        }
        return new long[]{hidden.size(0)};
    }

    /**
     * {@code logp[n] = log softmax(hidden[n] head^T)[labels[n]]} and its log-sum-exp {@code lse[n]} (saved for the
     * backward), without the {@code [N,V]} logits. hidden FLOAT or DOUBLE; head of that type, or BFLOAT16 beside
     * FLOAT (read as is, widened exactly).
     */
    static void lmHeadForward(String op, INDArray hidden, INDArray head, INDArray labels, INDArray logp,
                              INDArray lse) {
        long[] outShape = lmHeadShape(op, hidden, head, labels);
        INDArray ids = tokenIds(op, labels, head.size(0));
        DataType dt = kernelType(op, hidden);
        DataType ht = weightType(head, dt);
        INDArray lp = writableShaped(op, "logp", logp, dt, outShape);
        INDArray ls = writableShaped(op, "lse", lse, dt, outShape);
        long n = hidden.size(0);
        if (n > 0) {
            hidden = dense(hidden, dt);
            head = dense(head, ht);
            NativeKernels.lmHeadLogProbForward(dtypeCode(dt), storageCode(ht), address(hidden), address(head),
                    address(ids), address(lp), address(ls), n, hidden.size(1), head.size(0), NativeKernels.THREADS);
            keepAlive(hidden, head, ids);
        }
        copyBack(lp, logp);
        copyBack(ls, lse);
    }

    /**
     * From the forward's lse and dy {@code [N]}: {@code dHidden [N,H]} and {@code dHead [V,H]}, the logits recomputed
     * a block at a time; {@code dHead == null} for a frozen head (its product skipped).
     */
    static void lmHeadBackward(String op, INDArray hidden, INDArray head, INDArray labels, INDArray lse, INDArray dy,
                               INDArray dHidden, INDArray dHead) {
        long[] outShape = lmHeadShape(op, hidden, head, labels);
        if (lse.length() != outShape[0] || dy.length() != outShape[0]) {
            throw new IllegalArgumentException(op + ": lse and dy must hold one value per row of hidden "
                    + shape(hidden) + ", got " + shape(lse) + " and " + shape(dy));
        }
        INDArray ids = tokenIds(op, labels, head.size(0));
        DataType dt = kernelType(op, hidden);
        DataType ht = weightType(head, dt);
        INDArray gh = writable(op, "dHidden", dHidden, dt, hidden);
        INDArray gw = dHead == null ? null : writable(op, "dHead", dHead, dt, head);
        long n = hidden.size(0);
        if (n > 0) {
            hidden = dense(hidden, dt);
            head = dense(head, ht);
            lse = dense(lse, dt);
            dy = dense(dy, dt);
            NativeKernels.lmHeadLogProbBackward(dtypeCode(dt), storageCode(ht), address(hidden), address(head),
                    address(ids), address(lse), address(dy), address(gh), gw == null ? 0 : address(gw), n,
                    hidden.size(1), head.size(0), false, false, NativeKernels.THREADS);
            keepAlive(hidden, head, ids, lse, dy);
        } else if (gw != null) {
            gw.assign(0);  // no labelled position: an exact zero gradient
        }
        copyBack(gh, dHidden);
        if (gw != null) {
            copyBack(gw, dHead);
        }
    }

    // ------------------------------------------------------------------------------------------------ arrays

    private static DataType kernelType(String op, INDArray first) {
        NativeLibrary.require();
        DataType t = first.dataType();
        if (t != DataType.FLOAT && t != DataType.DOUBLE) {
            throw new IllegalArgumentException(op + ": the native kernels run in FLOAT or DOUBLE, got " + t
                    + " (shape " + shape(first) + ")");
        }
        return t;
    }

    /**
     * The storage type a weight operand is handed to the kernels in: BFLOAT16 as it is beside FLOAT activations (the
     * kernels widen it while packing), else the kernel type (other types are cast once, as every input is).
     */
    private static DataType weightType(INDArray w, DataType kernelType) {
        return w.dataType() == DataType.BFLOAT16 && kernelType == DataType.FLOAT ? DataType.BFLOAT16 : kernelType;
    }

    private static INDArray dense(INDArray a, DataType t) {
        return denseC(cast(a, t));
    }

    /**
     * The target itself when the kernel can write into it, else a scratch array to copy back from. The target must
     * have the shape of {@code like}.
     */
    private static INDArray writable(String op, String name, INDArray target, DataType t, INDArray like) {
        return writableShaped(op, name, target, t, like.shape());
    }

    private static INDArray writableShaped(String op, String name, INDArray target, DataType t, long[] shape) {
        if (target == null || !Arrays.equals(target.shape(), shape)) {
            throw new IllegalArgumentException(op + ": output " + name + " must have shape " + Arrays.toString(shape)
                    + ", got " + (target == null ? "none" : shape(target)));
        }
        return target.dataType() == t && isDenseC(target) ? target : Nd4j.createUninitialized(t, target.shape(), 'c');
    }
}
