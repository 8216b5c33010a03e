package org.prefixshare.loss;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/** Numerically stable element-wise helpers built from stock SameDiff ops (differentiable in ND4J 1.0.0-M2.1). */
final class SdMath {

    private SdMath() {
    }

    /**
     * {@code log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))}: no overflow for any x, where a direct
     * {@code -log(1 + exp(-x))} overflows for very negative x.
     */
    static SDVariable logSigmoid(SDVariable x) {
        SameDiff sd = x.getSameDiff();
        SDVariable abs = sd.math().abs(x);
        return minZero(x, abs).sub(sd.math().log1p(sd.math().exp(abs.neg())));
    }

    /** {@code max(x, 0)} as {@code (x + |x|) / 2}, exact in floating point. */
    static SDVariable relu(SDVariable x) {
        return x.add(x.getSameDiff().math().abs(x)).mul(0.5);
    }

    /** {@code min(x, 0)} as {@code (x - |x|) / 2}, exact in floating point; {@code abs} is {@code |x|}. */
    private static SDVariable minZero(SDVariable x, SDVariable abs) {
        return x.sub(abs).mul(0.5);
    }

    /** {@code sigmoid(x)}. */
    static SDVariable sigmoid(SDVariable x) {
        return x.getSameDiff().nn().sigmoid(x);
    }
}
