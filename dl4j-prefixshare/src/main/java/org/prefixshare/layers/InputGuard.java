package org.prefixshare.layers;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * Clear errors for what DL4J 1.0.0-M2.1 would otherwise report deep inside SameDiff (or not at all): a minibatch of
 * another row length than the first (a SameDiff layer fixes its input shapes, all but the batch size, at its first
 * minibatch) and DL4J masks, which the prefix-shared layers do not read (the row layout already says which tokens are
 * padding and which positions are scored).
 */
final class InputGuard {

    /** What a user changes to get one row length, for the messages. */
    static final String ROW_LENGTH_FIX = "feed rows of one length: DpoGraphIterator and PreferenceDataSetIterator "
            + "pad every batch to their rowLength (by default PackConfig.packLength), and PackConfig with packing=true "
            + "(the default) makes every row exactly packLength tokens long";

    private InputGuard() {
    }

    /**
     * Throws when {@code actual} differs from the shape placeholder {@code name} of {@code sd} was created with
     * (dim 0 excepted). No-op before the first minibatch ({@code sd == null}).
     *
     * @param what  the layer, for the message
     * @param tAxis the axis of T in this input
     */
    static void checkShape(SameDiff sd, String name, INDArray actual, String what, int tAxis) {
        if (sd == null || actual == null || !sd.hasVariable(name)) {
            return;
        }
        SDVariable v = sd.getVariable(name);
        long[] fixed = v.placeholderShape();
        if (fixed == null || Arrays.stream(fixed).allMatch(d -> d < 0)) {
            return;   // no shape fixed (e.g. labels of a layer first run for inference only)
        }
        long[] got = actual.shape();
        boolean same = fixed.length == got.length;
        for (int i = 1; same && i < got.length; i++) {
            same = fixed[i] < 0 || fixed[i] == got[i];
        }
        if (same) {
            return;
        }
        String shapes = " (input '" + name + "' " + Arrays.toString(got) + ", first minibatch "
                + Arrays.toString(fixed).replace("-1", "*") + ")";
        if (fixed.length == got.length && tAxis < got.length && fixed[tAxis] != got[tAxis]) {
            throw new IllegalArgumentException(what + ": this minibatch has rows of T=" + got[tAxis] + " tokens but "
                    + "the network was first run on rows of T=" + fixed[tAxis] + shapes + "; DL4J 1.0.0-M2.1 fixes "
                    + "a SameDiff layer's input shape (all but the batch size) at its first minibatch, so "
                    + ROW_LENGTH_FIX);
        }
        throw new IllegalArgumentException(what + ": input shape differs from the first minibatch's" + shapes
                + "; DL4J 1.0.0-M2.1 fixes a SameDiff layer's input shape (all but the batch size) at its first "
                + "minibatch");
    }

    /** Throws when DL4J handed the layer a feature mask. */
    static void refuseFeatureMask(INDArray mask, String what) {
        if (mask != null) {
            throw new IllegalArgumentException(what + ": DL4J feature masks are not supported (got one of shape "
                    + Arrays.toString(mask.shape()) + "): the row layout already says which tokens are padding (each "
                    + "its own node, no label) and which response each label belongs to. Remove the features mask "
                    + "(DpoGraphIterator and PreferenceDataSetIterator give none)");
        }
    }

    /** Throws when DL4J handed the output layer a labels mask. */
    static void refuseLabelMask(INDArray mask, String what) {
        if (mask != null) {
            throw new IllegalArgumentException(what + ": a DL4J labels mask is not supported (got one of shape "
                    + Arrays.toString(mask.shape()) + "): the scored positions are channel " + DpoLabels.LABEL
                    + " of the labels (-1 = not scored; see DpoLabels). Remove the labels mask (DpoGraphIterator and "
                    + "PreferenceDataSetIterator give none)");
        }
    }
}
