package org.prefixshare.ops.fused;

/**
 * The attributes of a {@link FusedDecoderLayer} and its backward op, kept in both ops' t-args in this order (older
 * graphs stored only the first two or three):
 *
 * @param eps             RMSNorm epsilon
 * @param scale           softmax scale of the attention
 * @param layoutGradients give the tables and the layout exact zero gradients (DL4J vertices) instead of none
 * @param loraScale       the adapters' scale (0: no adapters; the base weights are then trainable)
 * @param loraMask        the adapted projections ({@link LayerProjection#bit()}s); non-zero exactly with adapters
 * @param loraDropout     dropout on the adapters' input (a seed input follows the layout inputs when > 0)
 * @param recompute       save only the layer's input and recompute its activations in the backward
 * @param loraSalt        the layer's index, mixed into its dropout seed so layers drop different elements
 */
record LayerConfig(double eps, double scale, boolean layoutGradients, double loraScale, int loraMask,
                   double loraDropout, boolean recompute, int loraSalt) {

    /** Full fine-tuning, activations saved. */
    static LayerConfig plain(double eps, double scale, boolean layoutGradients) {
        return new LayerConfig(eps, scale, layoutGradients, 0, 0, 0, false, 0);
    }

    /** Whether the layer has adapters (and so a frozen base: only h and the adapters get gradients). */
    boolean lora() {
        return loraMask != 0;
    }

    double[] tArgs() {
        return new double[]{eps, scale, layoutGradients ? 1 : 0, loraScale, loraMask, loraDropout, recompute ? 1 : 0,
                loraSalt};
    }

    static LayerConfig of(double[] t) {
        if (t.length < 2) {
            throw new IllegalStateException(FusedDecoderLayer.OP_NAME + ": attributes missing (got " + t.length
                    + " t-args)");
        }
        return new LayerConfig(t[0], t[1], t.length > 2 && t[2] == 1, t.length > 3 ? t[3] : 0,
                t.length > 4 ? (int) t[4] : 0, t.length > 5 ? t[5] : 0, t.length > 6 && t[6] == 1,
                t.length > 7 ? (int) t[7] : 0);
    }
}
