package org.prefixshare.ops.fused;

import org.nd4j.autodiff.samediff.SDVariable;

import java.util.ArrayList;
import java.util.List;

/**
 * The LoRA adapters of one decoder layer (PEFT's update {@code y = x W^T + scale (dropout(x) A^T) B^T} of each
 * adapted projection, A {@code [r, in]}, B {@code [out, r]}): the adapted projections' A and B by
 * {@link LayerProjection} (null where a projection is not adapted), the common scale, and dropout on the adapters'
 * input with the per-step seed that makes it reproducible in the backward (and in a recomputed forward).
 *
 * @param scale   alpha / r (or alpha / sqrt(r) with rsLoRA)
 * @param dropout probability of dropping an adapter input element during training (0: none)
 * @param a       A per projection (7 entries, null where not adapted)
 * @param b       B per projection (7 entries, null where not adapted)
 * @param seed    a scalar INT64 input: the dropout seed of this step, negative for no dropout (evaluation);
 *                required when dropout > 0, else null
 */
public record DecoderLayerAdapters(double scale, double dropout, SDVariable[] a, SDVariable[] b, SDVariable seed) {

    public DecoderLayerAdapters {
        int n = LayerProjection.values().length;
        if (a == null || b == null || a.length != n || b.length != n) {
            throw new IllegalArgumentException("adapters need A and B arrays of " + n + " entries (one per projection)");
        }
        for (int i = 0; i < n; i++) {
            if ((a[i] == null) != (b[i] == null)) {
                throw new IllegalArgumentException("projection " + LayerProjection.values()[i] + " has one of A and B");
            }
        }
        if (mask(a) == 0) {
            throw new IllegalArgumentException("no projection is adapted");
        }
        if (!(scale > 0) || Double.isInfinite(scale) || !(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("LoRA scale must be finite and > 0 and dropout in [0, 1), got " + scale
                    + " and " + dropout);
        }
        if ((dropout > 0) != (seed != null)) {
            throw new IllegalArgumentException("a dropout seed input is needed exactly when dropout > 0");
        }
        a = a.clone();
        b = b.clone();
    }

    /** The adapted projections as a set of {@link LayerProjection#bit()}s. */
    public int mask() {
        return mask(a);
    }

    private static int mask(SDVariable[] a) {
        int m = 0;
        for (LayerProjection p : LayerProjection.values()) {
            if (a[p.ordinal()] != null) {
                m |= p.bit();
            }
        }
        return m;
    }

    /** A and B of each adapted projection, in projection order: the op's adapter inputs. */
    List<SDVariable> inOrder() {
        List<SDVariable> l = new ArrayList<>();
        for (LayerProjection p : LayerProjection.values()) {
            if (a[p.ordinal()] != null) {
                l.add(a[p.ordinal()]);
                l.add(b[p.ordinal()]);
            }
        }
        return l;
    }
}
