package org.prefixshare.ops.attention;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A query that sees no key (impossible in a valid layout, so built by hand) gives zeros, never NaN. */
class EmptyRowTest {

    @Test
    void queryThatSeesNothingGivesZerosNotNaN() {
        // token 1 has node 2 but subtreeEnd 1 < node: the rule rejects even itself, and key 0 is not its ancestor
        INDArray node = Nd4j.createFromArray(new int[][]{{0, 2, 1}});
        INDArray end = Nd4j.createFromArray(new int[][]{{0, 1, 1}});
        for (DataType dt : new DataType[]{DataType.FLOAT, DataType.DOUBLE}) {
            Nd4j.getRandom().setSeed(7);
            INDArray q = Nd4j.randn(dt, 1, 3, 2, 8);
            INDArray k = Nd4j.randn(dt, 1, 3, 1, 8);
            INDArray v = Nd4j.randn(dt, 1, 3, 1, 8);
            INDArray dOut = Nd4j.randn(dt, 1, 3, 2, 8);
            INDArray[] f = PrefixShareOps.forward(q, k, v, node, end, 0.35);
            INDArray[] g = PrefixShareOps.backward(q, k, v, node, end, f[0], f[1], dOut, 0.35);
            INDArray emptyOut = f[0].get(org.nd4j.linalg.indexing.NDArrayIndex.point(0),
                    org.nd4j.linalg.indexing.NDArrayIndex.point(1));
            assertEquals(0.0, emptyOut.amaxNumber().doubleValue(), 0.0, "out of the empty row");
            assertTrue(Double.isInfinite(f[1].getDouble(0, 0, 1)) && f[1].getDouble(0, 0, 1) > 0,
                    "lse of the empty row is +inf, got " + f[1].getDouble(0, 0, 1));
            for (INDArray a : new INDArray[]{f[0], g[0], g[1], g[2]}) {
                assertFalse(a.isNaN().any() || a.isInfinite().any(), "NaN/Inf in " + a);
            }
            INDArray dqEmpty = g[0].get(org.nd4j.linalg.indexing.NDArrayIndex.point(0),
                    org.nd4j.linalg.indexing.NDArrayIndex.point(1));
            assertEquals(0.0, dqEmpty.amaxNumber().doubleValue(), 0.0, "dq of the empty row");
            // the other rows still agree with the reference
            AttentionCase ac = new AttentionCase(q, k, v, node, end, dOut, 0.35);
            INDArray[] want = ac.graphResult(PrefixShareOps.Implementation.REFERENCE);
            double tol = dt == DataType.DOUBLE ? 1e-9 : 1e-4;
            String[] names = {"out", "lse", "dq", "dk", "dv"};
            INDArray[] got = {f[0], null, g[0], g[1], g[2]};
            for (int i = 0; i < names.length; i++) {
                if (got[i] != null) {
                    double err = Errors.maxRelative(got[i], want[i]);
                    assertTrue(err <= tol, dt + " " + names[i] + " rel err " + err + "\nnative " + got[i]
                            + "\nreference " + want[i]);
                }
            }
        }
    }
}
