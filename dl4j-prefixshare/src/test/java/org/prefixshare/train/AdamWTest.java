package org.prefixshare.train;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.schedule.ExponentialSchedule;
import org.nd4j.linalg.schedule.ScheduleType;
import org.prefixshare.ops.attention.Errors;
import org.prefixshare.ops.attention.PrefixShareOps;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.prefixshare.testing.FusedKernelsSwitch.withFusedKernels;

/**
 * The native AdamW step against ND4J's Adam updater (the path taken with {@code -Dprefixshare.fused=false}): same
 * parameters, gradients and schedule for several steps, with and without weight decay; parameters, optimiser state
 * and the consumed gradients (overwritten with the update) agree to 1e-12 in float64 and 1e-6 in float32.
 */
class AdamWTest {

    @Test
    void nativeStepEqualsNd4jAdamInFloat64AndFloat32() {
        PrefixShareOps.init();
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            for (double wd : new double[]{0, 0.1}) {
                Nd4j.getRandom().setSeed(5);
                Map<String, INDArray> start = new LinkedHashMap<>();
                start.put("w", Nd4j.randn(DataType.DOUBLE, 7, 33).castTo(dt));
                start.put("b", Nd4j.randn(DataType.DOUBLE, 1).castTo(dt));
                start.put("big", Nd4j.randn(DataType.DOUBLE, 300, 150).castTo(dt));  // above the parallel threshold
                Map<String, INDArray> fused = copy(start);
                Map<String, INDArray> nd4j = copy(start);
                ExponentialSchedule lr = new ExponentialSchedule(ScheduleType.ITERATION, 1e-2, 0.9);
                AdamW fusedOpt = new AdamW(fused, lr, wd);
                AdamW nd4jOpt = new AdamW(nd4j, lr, wd);
                double tol = dt == DataType.DOUBLE ? 1e-12 : 1e-6;
                for (int step = 0; step < 6; step++) {
                    Map<String, INDArray> grads = new LinkedHashMap<>();
                    start.forEach((k, v) -> grads.put(k, Nd4j.randn(DataType.DOUBLE, v.shape()).castTo(dt)));
                    Map<String, INDArray> g1 = copy(grads);
                    Map<String, INDArray> g2 = copy(grads);
                    int s = step;
                    withFusedKernels(true, () -> {
                        fusedOpt.apply(fused, g1, s);
                        return null;
                    });
                    withFusedKernels(false, () -> {
                        nd4jOpt.apply(nd4j, g2, s);
                        return null;
                    });
                    String at = dt + " wd=" + wd + " step " + step;
                    for (String k : start.keySet()) {
                        assertClose(at + " param " + k, nd4j.get(k), fused.get(k), tol);
                        assertClose(at + " update " + k, g2.get(k), g1.get(k), tol);
                    }
                    Map<String, INDArray> s1 = fusedOpt.snapshot();
                    Map<String, INDArray> s2 = nd4jOpt.snapshot();
                    for (String k : start.keySet()) {
                        assertClose(at + " state " + k, s2.get(k), s1.get(k), tol);
                    }
                }
            }
        }
    }

    private static void assertClose(String what, INDArray expected, INDArray actual, double tol) {
        double e = Errors.maxRelative(actual, expected);
        assertTrue(e <= tol, what + ": native vs ND4J relative error " + e);
    }

    private static Map<String, INDArray> copy(Map<String, INDArray> m) {
        Map<String, INDArray> c = new LinkedHashMap<>();
        m.forEach((k, v) -> c.put(k, v.dup()));
        return c;
    }
}
