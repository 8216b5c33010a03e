package org.prefixshare.model.lora;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.prefixshare.model.DecoderConfig;
import org.prefixshare.model.WeightSource;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The adapter parameters of a LoRA configuration on a decoder: their PEFT names
 * ({@code base_model.model.model.layers.<i>.self_attn.q_proj.lora_A.weight}, A {@code [r, in]} and B {@code [out, r]}),
 * PEFT's initialisation, and the one place the update {@code scale * B A} is defined ({@link #deltaWeight}).
 */
public final class LoraAdapters {

    /** PEFT's prefix of every adapter tensor of a causal LM. */
    public static final String PEFT_PREFIX = "base_model.model.";

    private LoraAdapters() {
    }

    /** PEFT name of target {@code t}'s A ({@code [r, in]}) in layer {@code layer}. */
    public static String aName(LoraTarget t, int layer) {
        return PEFT_PREFIX + "model.layers." + layer + "." + t.module() + ".lora_A.weight";
    }

    /** PEFT name of target {@code t}'s B ({@code [out, r]}) in layer {@code layer}. */
    public static String bName(LoraTarget t, int layer) {
        return PEFT_PREFIX + "model.layers." + layer + "." + t.module() + ".lora_B.weight";
    }

    /** Every adapter parameter with its shape: per layer, per target in {@link LoraTarget} order, A then B. */
    public static Map<String, long[]> shapes(DecoderConfig model, LoraConfig lora) {
        Map<String, long[]> m = new LinkedHashMap<>();
        for (int l = 0; l < model.numLayers(); l++) {
            for (LoraTarget t : lora.orderedTargets()) {
                m.put(aName(t, l), new long[]{lora.r(), t.in(model)});
                m.put(bName(t, l), new long[]{t.out(model), lora.r()});
            }
        }
        return m;
    }

    /** Number of adapter parameters. */
    public static long parameterCount(DecoderConfig model, LoraConfig lora) {
        long n = 0;
        for (long[] s : shapes(model, lora).values()) {
            n += s[0] * s[1];
        }
        return n;
    }

    /**
     * PEFT's initialisation ({@code init_lora_weights=True}): A Kaiming-uniform with a = sqrt(5), i.e. uniform in
     * +-1/sqrt(in) (torch's {@code nn.init.kaiming_uniform_}), B zeros, so the adapted model starts as the base model.
     * Each A draws from its own stream seeded by {@code seed} and its name.
     */
    public static WeightSource initial(long seed) {
        return (name, shape, type) -> {
            if (name.endsWith(".lora_B.weight")) {
                return Nd4j.zeros(type, shape);
            }
            double bound = 1.0 / Math.sqrt(shape[1]);
            SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ name.hashCode());
            double[] v = new double[(int) (shape[0] * shape[1])];
            for (int i = 0; i < v.length; i++) {
                v[i] = rnd.nextDouble(-bound, bound);
            }
            return Nd4j.createFromArray(v).castTo(type).reshape('c', shape);
        };
    }

    /** {@code scale * B A} in {@code type} ({@code [out, in]}): the adapter's update of its weight. */
    public static INDArray deltaWeight(INDArray a, INDArray b, double scale, DataType type) {
        return b.castTo(DataType.DOUBLE).mmul(a.castTo(DataType.DOUBLE)).muli(scale).castTo(type);
    }

    /**
     * The merged weight {@code W + scale * B A}, computed in float64 then rounded to {@code type} (PEFT's
     * {@code merge_and_unload}). Large weights are merged a block of rows at a time.
     */
    public static INDArray merged(INDArray w, INDArray a, INDArray b, double scale, DataType type) {
        long out = w.size(0);
        INDArray result = Nd4j.createUninitialized(type, w.shape(), 'c');
        long block = Math.max(1, (1L << 22) / Math.max(1, w.size(1)));
        INDArray ad = a.castTo(DataType.DOUBLE);
        for (long r0 = 0; r0 < out; r0 += block) {
            long r1 = Math.min(out, r0 + block);
            // dup: castTo returns the array itself when it is already DOUBLE, and W must not change
            INDArray rows = w.get(NDArrayIndex.interval(r0, r1), NDArrayIndex.all()).dup('c').castTo(DataType.DOUBLE);
            INDArray bRows = b.get(NDArrayIndex.interval(r0, r1), NDArrayIndex.all()).castTo(DataType.DOUBLE);
            rows.addi(bRows.mmul(ad).muli(scale));
            result.get(NDArrayIndex.interval(r0, r1), NDArrayIndex.all()).assign(rows.castTo(type));
        }
        return result;
    }
}
