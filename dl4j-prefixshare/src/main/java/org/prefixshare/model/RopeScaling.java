package org.prefixshare.model;

import java.util.Locale;

/**
 * How RoPE's inverse frequencies are rescaled for long contexts (Hugging Face's {@code rope_scaling}, computed as
 * transformers' {@code modeling_rope_utils} does): none, {@code linear} (positions divided by {@code factor}, i.e.
 * every inverse frequency divided by it) or {@code llama3} (Llama 3.1's wavelength-dependent rescaling: long
 * wavelengths divided by {@code factor}, short ones kept, the band between interpolated). Neither changes the
 * attention scale (transformers' {@code attention_factor} is 1 for both).
 *
 * @param type                 the scaling rule
 * @param factor               [factor] (1 for NONE)
 * @param lowFreqFactor        [low_freq_factor] (llama3 only; else 0)
 * @param highFreqFactor       [high_freq_factor] (llama3 only; else 0)
 * @param originalMaxPositions [original_max_position_embeddings] (llama3 only; else 0)
 */
public record RopeScaling(Type type, double factor, double lowFreqFactor, double highFreqFactor,
                          int originalMaxPositions) {

    /** The scaling rules we implement; Hugging Face's other {@code rope_type}s are refused by name at load. */
    public enum Type {
        NONE, LINEAR, LLAMA3;

        /** The {@code rope_type} name Hugging Face uses. */
        public String hfName() {
            return this == NONE ? "default" : name().toLowerCase(Locale.ROOT);
        }
    }

    /** No scaling. */
    public static final RopeScaling NONE = new RopeScaling(Type.NONE, 1.0, 0, 0, 0);

    public RopeScaling {
        if (type == null) {
            throw new IllegalArgumentException("rope_scaling type is required");
        }
        if (!(factor > 0) || Double.isInfinite(factor)) {
            throw new IllegalArgumentException("rope_scaling factor must be finite and > 0, got " + factor);
        }
        if (type == Type.LLAMA3) {
            if (!(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor)) {
                throw new IllegalArgumentException("rope_scaling llama3 needs 0 < low_freq_factor < high_freq_factor,"
                        + " got " + lowFreqFactor + " and " + highFreqFactor);
            }
            if (originalMaxPositions <= 0) {
                throw new IllegalArgumentException("rope_scaling llama3 needs original_max_position_embeddings > 0, "
                        + "got " + originalMaxPositions);
            }
        }
    }

    /** Linear scaling (position interpolation) by {@code factor}. */
    public static RopeScaling linear(double factor) {
        return new RopeScaling(Type.LINEAR, factor, 0, 0, 0);
    }

    /** Llama 3.1's scaling. */
    public static RopeScaling llama3(double factor, double lowFreqFactor, double highFreqFactor,
                                     int originalMaxPositions) {
        return new RopeScaling(Type.LLAMA3, factor, lowFreqFactor, highFreqFactor, originalMaxPositions);
    }

    /**
     * The D/2 inverse frequencies of a head of width {@code headDim}: {@code theta^(-2i/D)} in float32 as
     * transformers computes them ({@code 1 / base ** (arange(0, D, 2).float() / D)}), then rescaled by this rule.
     * Values are float32-representable doubles, so a float32 model sees exactly these.
     */
    public double[] inverseFrequencies(int headDim, double theta) {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            float exponent = (float) (2 * i) / (float) headDim;
            float base = (float) Math.pow(theta, exponent);
            inv[i] = 1.0f / base;
        }
        switch (type) {
            case NONE -> {
            }
            case LINEAR -> {
                for (int i = 0; i < inv.length; i++) {
                    inv[i] = (float) (inv[i] / factor);
                }
            }
            case LLAMA3 -> {
                double lowFreqWavelen = originalMaxPositions / lowFreqFactor;
                double highFreqWavelen = originalMaxPositions / highFreqFactor;
                for (int i = 0; i < inv.length; i++) {
                    double wavelen = 2 * Math.PI / inv[i];
                    double scaled = wavelen > lowFreqWavelen ? inv[i] / factor : inv[i];
                    boolean medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
                    if (medium) {
                        double smooth = (originalMaxPositions / wavelen - lowFreqFactor)
                                / (highFreqFactor - lowFreqFactor);
                        scaled = (1 - smooth) * scaled / factor + smooth * scaled;
                    }
                    inv[i] = (float) scaled;
                }
            }
        }
        return inv;
    }
}
