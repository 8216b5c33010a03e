package org.prefixshare.model;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The decoder's building blocks as SameDiff functions, shared by {@link DecoderModel} and the DL4J layers so both
 * compute the same thing in the same order (Hugging Face Llama semantics; weights in HF's {@code [out, in]} layout).
 */
public final class DecoderMath {

    private DecoderMath() {
    }

    /** x [M,in] times W^T (W [out,in], HF layout) plus bias [out] when given. */
    public static SDVariable linear(SameDiff sd, SDVariable x, SDVariable w, SDVariable bias) {
        SDVariable y = sd.mmul(x, w, false, true, false);
        return bias == null ? y : y.add(bias);
    }

    /** HF LlamaRMSNorm over the last axis of [M,H]: weight * x / sqrt(mean(x^2) + eps). */
    public static SDVariable rmsNorm(SameDiff sd, SDVariable x, SDVariable weight, double eps) {
        SDVariable ms = sd.mean(x.mul(x), true, 1);                                   // [M,1]
        return x.mul(sd.math().rsqrt(ms.add(eps))).mul(weight);
    }

    /**
     * RoPE tables from per-token positions (any shape, flattened to [M]): {cos, sin} [M,1,D] and the rotate-half
     * matrix [D,D]; angle[t, j] = position[t] * theta^(-2 (j mod D/2) / D).
     */
    public static SDVariable[] ropeTables(SameDiff sd, SDVariable position, int headDim, double theta,
                                          DataType dt) {
        int d = headDim;
        double[] invFreq = new double[d];
        for (int j = 0; j < d / 2; j++) {
            invFreq[j] = Math.pow(theta, -2.0 * j / d);
            invFreq[j + d / 2] = invFreq[j];
        }
        SDVariable angle = sd.mmul(sd.reshape(position, -1, 1),
                sd.constant(Nd4j.createFromArray(invFreq).castTo(dt).reshape(1, d)));   // [M,D]
        SDVariable cos = sd.expandDims(sd.math().cos(angle), 1);                      // [M,1,D]
        SDVariable sin = sd.expandDims(sd.math().sin(angle), 1);                      // [M,1,D]
        SDVariable rotate = sd.constant(rotateHalfMatrix(d, dt));                     // [D,D]
        return new SDVariable[]{cos, sin, rotate};
    }

    /** HF apply_rotary_pos_emb on x [M, heads*D] with {@link #ropeTables}: returned as [M,heads,D]. */
    public static SDVariable rope(SameDiff sd, SDVariable x, int heads, int d, SDVariable[] tables) {
        SDVariable x3 = sd.reshape(x, -1, heads, d);                                  // [M,heads,D]
        SDVariable rotated = sd.reshape(sd.mmul(sd.reshape(x, -1, d), tables[2]), -1, heads, d);
        return x3.mul(tables[0]).add(rotated.mul(tables[1]));
    }

    /** R [D,D] with x R = rotate_half(x) = concat(-x[D/2:], x[:D/2]). */
    public static INDArray rotateHalfMatrix(int d, DataType dt) {
        double[][] r = new double[d][d];
        int half = d / 2;
        for (int j = 0; j < half; j++) {
            r[j + half][j] = -1.0;     // out[j] = -x[j + D/2]
            r[j][j + half] = 1.0;      // out[j + D/2] = x[j]
        }
        return Nd4j.createFromArray(r).castTo(dt);
    }
}
