package org.prefixshare.testing;

import org.prefixshare.ops.fused.FusedOps;

import java.util.function.Supplier;

/** Runs test code with the fused native CPU kernels on or off ({@code -Dprefixshare.fused}), then restores it. */
public final class FusedKernelsSwitch {

    private FusedKernelsSwitch() {
    }

    /** {@code body}'s result, computed with {@link FusedOps#PROPERTY} set to {@code fused}. */
    public static <T> T withFusedKernels(boolean fused, Supplier<T> body) {
        String old = System.getProperty(FusedOps.PROPERTY);
        System.setProperty(FusedOps.PROPERTY, Boolean.toString(fused));
        try {
            return body.get();
        } finally {
            if (old == null) {
                System.clearProperty(FusedOps.PROPERTY);
            } else {
                System.setProperty(FusedOps.PROPERTY, old);
            }
        }
    }
}
