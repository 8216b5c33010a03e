package org.prefixshare.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.SplittableRandom;

/**
 * Where a model's parameters come from: a seeded random initialisation ({@link #random}) or a checkpoint
 * ({@code org.prefixshare.hf.HfModelDirectory}). Arrays are created off-heap, one parameter at a time, so no Java
 * array ever holds a whole parameter and a model's size is bounded by native memory only.
 */
@FunctionalInterface
public interface WeightSource {

    /**
     * A fresh dense c-order array of {@code shape} and {@code type} holding parameter {@code name} (Hugging Face
     * name). Implementations throw {@link IllegalArgumentException} naming the parameter when they cannot supply it.
     */
    INDArray load(String name, long[] shape, DataType type);

    /** Elements generated per chunk by {@link #random}: bounds the Java heap it needs. */
    int RANDOM_CHUNK = 1 << 20;

    /**
     * Hugging Face's initialisation of a Llama-style model ({@code _init_weights}): norms 1, biases 0, every other
     * weight normal with standard deviation {@code std} (HF's {@code initializer_range}, 0.02). Each parameter draws
     * from its own stream seeded by {@code seed} and its name, so values do not depend on the order or number of
     * other parameters; the values are rounded from double to {@code type}.
     */
    static WeightSource random(long seed, double std) {
        if (!(std >= 0) || Double.isInfinite(std)) {
            throw new IllegalArgumentException("initial standard deviation must be finite and >= 0, got " + std);
        }
        return (name, shape, type) -> {
            if (name.endsWith("norm.weight")) {
                return Nd4j.ones(type, shape);
            }
            if (name.endsWith(".bias")) {
                return Nd4j.zeros(type, shape);
            }
            INDArray out = Nd4j.createUninitialized(type, shape, 'c');
            INDArray flat = out.reshape('c', new long[]{out.length()});
            SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ name.hashCode());
            int size = (int) Math.min(RANDOM_CHUNK, Math.max(1, out.length()));
            // float32 and narrower types are rounded through float (as the double -> float32 cast of the values
            // always was); float64 keeps the doubles. The chunk's temporaries are freed at once, not by the GC.
            boolean viaFloat = type != DataType.DOUBLE;
            double[] d = viaFloat ? null : new double[size];
            float[] f = viaFloat ? new float[size] : null;
            for (long from = 0; from < out.length(); from += size) {
                int n = (int) Math.min(size, out.length() - from);
                for (int i = 0; i < n; i++) {
                    double g = std * rnd.nextGaussian();
                    if (viaFloat) {
                        f[i] = (float) g;
                    } else {
                        d[i] = g;
                    }
                }
                try (INDArray chunk = viaFloat ? Nd4j.createFromArray(n == size ? f : java.util.Arrays.copyOf(f, n))
                        : Nd4j.createFromArray(n == size ? d : java.util.Arrays.copyOf(d, n))) {
                    INDArray target = flat.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(from, from + n));
                    if (chunk.dataType() == type) {
                        target.assign(chunk);
                    } else {
                        try (INDArray cast = chunk.castTo(type)) {
                            target.assign(cast);
                        }
                    }
                }
            }
            return out;
        };
    }
}
