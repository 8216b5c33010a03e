package org.prefixshare.ops.attention;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.prefixshare.ops.nativeload.NativeLibrary;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The native kernels against the dense SameDiff reference (an independent computation: stock ops and SameDiff's own
 * autodiff) over 200 random layouts: 1 to 8 documents per row, 2 to 4 responses, empty and one-token prompts,
 * padding, odd T, four GQA shapes, D in {16, 32, 64, 128} (32, 64, 128 are the kernels' compiled fast paths); float64 within 1e-9 and float32 within 1e-4.
 */
class NativeVsReferenceTest {

    private static final int[][] HEADS = {{1, 1}, {4, 2}, {8, 8}, {8, 2}};
    private static final int[] HEAD_DIMS = {16, 32, 64, 128};
    private static final String[] NAMES = {"out", "lse", "dq", "dk", "dv"};

    @BeforeAll
    static void nativeLoaded() {
        assertTrue(NativeLibrary.isAvailable(), "native library must load in tests: " + NativeLibrary.failure());
    }

    @Test
    void twoHundredRandomLayoutsMatchTheReference() {
        List<String> failures = new ArrayList<>();
        double worst64 = 0;
        double worst32 = 0;
        for (int c = 0; c < 200; c++) {
            Random rnd = new Random(1000 + c);
            int[] heads = HEADS[c % HEADS.length];
            int d = HEAD_DIMS[(c / HEADS.length) % HEAD_DIMS.length];
            int t = 17 + 2 * rnd.nextInt(60); // odd: never a multiple of a tile size
            int b = 1 + rnd.nextInt(2);
            int[][][] rows = new int[b][][];
            for (int i = 0; i < b; i++) {
                rows[i] = RandomLayouts.row(rnd, t, 8);
            }
            for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
                AttentionCase ac = AttentionCase.random(rnd, dt, rows, heads[0], heads[1], d);
                INDArray[] got = ac.nativeResult();
                INDArray[] want = ac.graphResult(PrefixShareOps.Implementation.REFERENCE);
                double tol = dt == DataType.DOUBLE ? 1e-9 : 1e-4;
                for (int i = 0; i < NAMES.length; i++) {
                    double err = Errors.maxRelative(got[i], want[i]);
                    if (dt == DataType.DOUBLE) {
                        worst64 = Math.max(worst64, err);
                    } else {
                        worst32 = Math.max(worst32, err);
                    }
                    if (!(err <= tol)) {
                        failures.add(String.format("case %d %s B=%d T=%d Hq=%d Hkv=%d D=%d: %s rel err %.3g > %.0g%n%s",
                                c, dt, b, t, heads[0], heads[1], d, NAMES[i], err, tol,
                                AncestorMask.toAscii(rows[0][0], rows[0][1], 40)));
                    }
                }
            }
        }
        if (!failures.isEmpty()) {
            fail(failures.size() + " mismatches; first:\n" + failures.get(0));
        }
        System.out.printf("worst relative error: float64 %.3g, float32 %.3g%n", worst64, worst32);
    }
}
