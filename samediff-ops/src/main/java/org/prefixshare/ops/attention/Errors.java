package org.prefixshare.ops.attention;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The error measure of every equivalence claim: {@code max|actual - expected| / max|expected|}. Where the expected
 * tensor is all zero up to {@link #ZERO} (a gradient that cancels exactly, say), the absolute error is returned
 * instead, so round-off on an exact zero does not read as an infinite relative error.
 */
public final class Errors {

    private Errors() {
    }

    /** Below this max magnitude an expected tensor counts as zero. */
    public static final double ZERO = 1e-12;

    /** Max-norm relative error (absolute error where {@code expected} is zero). */
    public static double maxRelative(INDArray actual, INDArray expected) {
        INDArray a = actual.castTo(DataType.DOUBLE);
        INDArray e = expected.castTo(DataType.DOUBLE);
        double diff = Transforms.abs(a.sub(e), false).maxNumber().doubleValue();
        double scale = Transforms.abs(e, true).maxNumber().doubleValue();
        if (Double.isNaN(diff)) {
            return Double.NaN;
        }
        return scale < ZERO ? diff : diff / scale;
    }
}
